/**
 * Which hidraw node each HID role of the gateway holds. A role that opens a node receives every
 * report of it, so two roles on one node would each take the other's input as their own: a badge
 * at the entry reader would also be an exit badge, and open the door without a code. A connection
 * claims a node before it opens it and leaves alone nodes another role holds.
 *
 * The one sharing allowed is a reader and its own PIN pad on one device (a Wiegand reader with
 * keypad behind one bridge): both name each other as `sharesWith`, and each reads only its frames.
 */
export interface HidClaimant {
  /** The role's device name, e.g. `main.entry-reader`. */
  name: string;
  /** The one other role that may hold the same node, if it names this one too. */
  sharesWith?: string;
}

export class HidClaims {
  private readonly holders = new Map<string, HidClaimant[]>();

  /** The role that holds `path` against `claimant`, or undefined when the claimant may take it. */
  heldAgainst(path: string, claimant: HidClaimant): string | undefined {
    const others = (this.holders.get(path) ?? []).filter((h) => h.name !== claimant.name);
    return others.find((h) => h.name !== claimant.sharesWith || h.sharesWith !== claimant.name)?.name;
  }

  /** Takes `path` for `claimant`; false, and nothing taken, when another role holds it. */
  claim(path: string, claimant: HidClaimant): boolean {
    if (this.heldAgainst(path, claimant) !== undefined) return false;
    const holders = this.holders.get(path) ?? [];
    if (!holders.some((h) => h.name === claimant.name)) holders.push(claimant);
    this.holders.set(path, holders);
    return true;
  }

  release(path: string, claimant: HidClaimant): void {
    const holders = (this.holders.get(path) ?? []).filter((h) => h.name !== claimant.name);
    if (holders.length > 0) this.holders.set(path, holders);
    else this.holders.delete(path);
  }
}
