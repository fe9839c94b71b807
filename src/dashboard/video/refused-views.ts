import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { AuditLog } from '../audit/audit-log.js';

/**
 * Refused attempts to watch footage — a signed-in person whose role has no `video` access, or
 * whose session is short of its second factor (403) — written to the audit log as `video.view`
 * rows with `result: 'forbidden'` (docs/video.md, audit). Bounded, so that a script retrying, or
 * walking through every camera, cannot flood the log: a person's first refusal opens a window
 * (5 minutes); in it, the first attempt at each footage is a row of its own, up to `maxRows`
 * (10) rows; every further attempt is counted, and the count is one more row (`kind:
 * 'repeated'`, `attempts`) when the window closes. Nothing here keeps the refusal from being
 * answered: a failed audit write is logged.
 */
export interface RefusedViewsOptions {
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  windowMs?: number;
  maxRows?: number;
}

export interface RefusedAttempt {
  actor: string;
  /** Which footage: the same key again in a window is counted, not written. */
  key: string;
  target: string | null;
  details: Record<string, unknown>;
}

interface Window {
  opened: number;
  written: Set<string>;
  counted: number;
  timer: TimerHandle;
}

export class RefusedViews {
  private readonly windows = new Map<string, Window>();
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly options: RefusedViewsOptions) {}

  /** Writes the attempt, or counts it in the person's window; resolves once written, never rejects. */
  refused(attempt: RefusedAttempt): Promise<void> {
    const { actor, key, target, details } = attempt;
    let window = this.windows.get(actor);
    if (!window) {
      const windowMs = this.options.windowMs ?? 5 * 60_000;
      window = {
        opened: this.options.clock.now(),
        written: new Set(),
        counted: 0,
        timer: this.options.clock.setTimeout(() => this.close(actor), windowMs),
      };
      this.windows.set(actor, window);
    }
    if (window.written.has(key) || window.written.size >= (this.options.maxRows ?? 10)) {
      window.counted++;
      return Promise.resolve();
    }
    window.written.add(key);
    return this.write(actor, target, { ...details, result: 'forbidden' });
  }

  /** Closes every window, writing what was counted in it, and waits for every write. */
  async stop(): Promise<void> {
    for (const actor of [...this.windows.keys()]) this.close(actor);
    await Promise.all(this.writing);
  }

  private close(actor: string): void {
    const window = this.windows.get(actor);
    if (!window) return;
    this.windows.delete(actor);
    window.timer.cancel();
    if (window.counted === 0) return;
    void this.write(actor, null, {
      kind: 'repeated',
      result: 'forbidden',
      attempts: window.counted,
      since: new Date(window.opened).toISOString(),
      until: new Date(this.options.clock.now()).toISOString(),
    });
  }

  private write(actor: string, target: string | null, details: Record<string, unknown>): Promise<void> {
    const written: Promise<void> = this.options.audit
      .record({ actor, action: 'video.view', target, details })
      .then(() => undefined)
      .catch((error: Error) =>
        this.options.log.error(
          { err: error, actor, details },
          'audit: a refused footage view was not written',
        ),
      );
    this.writing.add(written);
    void written.finally(() => this.writing.delete(written));
    return written;
  }
}
