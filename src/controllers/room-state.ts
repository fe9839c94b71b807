/**
 * What a room knows across its doors: who is inside (anti-passback and occupancy), the first
 * person waiting under a two-person rule, and whether the room is locked down.
 */
export type AntiPassbackMode = 'off' | 'soft' | 'hard';

export interface RoomSettings {
  id: string;
  antiPassback: AntiPassbackMode;
  /** After this long without a badge event a person's in/out state is forgotten (timed reset). */
  antiPassbackResetMs?: number;
  /** Entry needs two different valid persons within this window. */
  twoPersonWindowMs?: number;
  /** Only a person allowed to open the room may enter it while it is empty. */
  firstPersonIn: boolean;
  /** Whether in/out is known (an exit reader or anti-passback); otherwise occupancy is not counted. */
  tracksOccupancy?: boolean;
}

/**
 * How long a person counts as inside when nothing else says so: a room's own reset when it has
 * one, else a day. Nobody stays in an ident room for a day; an entry older than that is a person
 * who left unseen (the exit button, holding the door for someone), and keeping it would keep
 * personal data on the gateway for good.
 */
export const INSIDE_AT_MOST_MS = 24 * 60 * 60_000;

export interface RoomSnapshot {
  inside: Record<string, number>;
  lockdown: boolean;
}

export interface PendingCompanion {
  person: string;
  badge: string;
  door: string;
  at: number;
}

export class RoomState {
  /** person → epoch ms of their last entry */
  private readonly inside = new Map<string, number>();
  private pending: PendingCompanion | undefined;
  lockdown = false;

  constructor(readonly settings: RoomSettings) {}

  private get tracking(): boolean {
    return (
      this.settings.tracksOccupancy ?? (this.settings.antiPassback !== 'off' || this.settings.firstPersonIn)
    );
  }

  get occupants(): number {
    return this.inside.size;
  }

  isInside(person: string, nowMs: number): boolean {
    this.expire(nowMs);
    return this.inside.has(person);
  }

  /** Whether moving `person` in this direction contradicts what the room knows. */
  violatesAntiPassback(person: string, direction: 'in' | 'out', nowMs: number): boolean {
    if (this.settings.antiPassback === 'off') return false;
    const inside = this.isInside(person, nowMs);
    return direction === 'in' ? inside : !inside;
  }

  /** Records a passage; returns true when the occupancy count changed. */
  record(person: string, direction: 'in' | 'out', nowMs: number): boolean {
    if (!this.tracking) return false;
    const before = this.inside.size;
    if (direction === 'in') this.inside.set(person, nowMs);
    else this.inside.delete(person);
    return this.inside.size !== before;
  }

  isEmpty(nowMs: number): boolean {
    this.expire(nowMs);
    return this.inside.size === 0;
  }

  /** The first person of a two-person entry, while still within the window. */
  companionWaiting(nowMs: number): PendingCompanion | undefined {
    const window = this.settings.twoPersonWindowMs;
    if (!this.pending || window === undefined) return undefined;
    if (nowMs - this.pending.at > window) {
      this.pending = undefined;
      return undefined;
    }
    return this.pending;
  }

  setCompanion(pending: PendingCompanion | undefined): void {
    this.pending = pending;
  }

  /**
   * Forgets who has been inside longer than the room's reset (or INSIDE_AT_MOST_MS), and those
   * `known` no longer knows (erased, or no longer allowed on the site: not in the credential
   * set). Returns whether the occupancy changed.
   */
  forget(nowMs: number, known?: (person: string) => boolean): boolean {
    const before = this.inside.size;
    const limit = this.settings.antiPassbackResetMs ?? INSIDE_AT_MOST_MS;
    for (const [person, at] of this.inside)
      if (nowMs - at >= limit || (known && !known(person))) this.inside.delete(person);
    return this.inside.size !== before;
  }

  snapshot(): RoomSnapshot {
    return { inside: Object.fromEntries(this.inside), lockdown: this.lockdown };
  }

  restore(snapshot: RoomSnapshot): void {
    this.inside.clear();
    for (const [person, at] of Object.entries(snapshot.inside)) this.inside.set(person, at);
    this.lockdown = snapshot.lockdown;
  }

  private expire(nowMs: number): void {
    this.forget(nowMs);
  }
}
