/**
 * Per-gateway sequence bookkeeping for the central side. Gateways number their events 1, 2, 3 …
 * across restarts; the tracker tells a redelivery of the same event (harmless, at-least-once
 * delivery) from a different event that reuses a sequence number (a replay or a forgery), and
 * reports gaps so that the central side can ask for a resend.
 */
export type SequenceVerdict =
  | { status: 'new'; gapFrom?: number; gapTo?: number }
  | { status: 'duplicate' }
  | { status: 'replayed'; knownId: string }
  | { status: 'below-window' };

interface GatewayWindow {
  highest: number;
  ids: Map<number, string>;
}

export class SequenceTracker {
  private readonly gateways = new Map<string, GatewayWindow>();

  /** @param window how many recent sequence numbers per gateway are remembered with their ids. */
  constructor(private readonly window = 100_000) {}

  /** Seeds the tracker, e.g. with the highest sequence stored per gateway after a restart. */
  remember(gateway: string, seq: number, id: string): void {
    this.observe(gateway, seq, id);
  }

  observe(gateway: string, seq: number, id: string): SequenceVerdict {
    let state = this.gateways.get(gateway);
    if (!state) {
      state = { highest: 0, ids: new Map() };
      this.gateways.set(gateway, state);
    }
    const known = state.ids.get(seq);
    if (known !== undefined)
      return known === id ? { status: 'duplicate' } : { status: 'replayed', knownId: known };
    if (state.highest > 0 && seq <= state.highest - this.window) return { status: 'below-window' };
    state.ids.set(seq, id);
    const verdict: SequenceVerdict = { status: 'new' };
    if (seq > state.highest) {
      if (state.highest > 0 && seq > state.highest + 1) {
        verdict.gapFrom = state.highest + 1;
        verdict.gapTo = seq - 1;
      }
      state.highest = seq;
      this.trim(state);
    }
    return verdict;
  }

  highest(gateway: string): number {
    return this.gateways.get(gateway)?.highest ?? 0;
  }

  private trim(state: GatewayWindow): void {
    if (state.ids.size <= this.window * 1.25) return;
    const floor = state.highest - this.window;
    for (const seq of state.ids.keys()) if (seq <= floor) state.ids.delete(seq);
  }
}
