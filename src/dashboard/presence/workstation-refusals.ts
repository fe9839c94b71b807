import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { WORKSTATION_ID_PATTERN } from '../../protocol/workstation-commands.js';
import type { AuditLog } from '../audit/audit-log.js';

/**
 * Requests to the workstation API refused for their credentials (HTTP 401): a missing token, a
 * wrong one, another workstation's, or an unknown workstation. Each is audited as
 * `workstation.auth-refused`, without the token and without anything from the body, but at most
 * once per window for each workstation and reason and at most `maxPerWindow` in all, so that a
 * flood of guesses cannot flood the audit log: what is held back is counted and written as one
 * `workstation.auth-refused-suppressed` entry when the window closes.
 */
export type RefusalReason = 'no-token' | 'unknown-workstation' | 'wrong-token' | 'other-workstation-token';

export interface WorkstationRefusal {
  /** The workstation named in the URL, as sent. */
  workstation: unknown;
  reason: RefusalReason;
  /** The route (its pattern, not the URL). */
  route: string;
  /** The workstation whose token was presented, for `other-workstation-token`. */
  tokenOf?: string;
}

export interface WorkstationRefusalsOptions {
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  windowMs?: number;
  maxPerWindow?: number;
}

const workstationId = new RegExp(WORKSTATION_ID_PATTERN);

export class WorkstationRefusals {
  private readonly windowMs: number;
  private readonly maxPerWindow: number;
  private seen = new Set<string>();
  private written = 0;
  private suppressed = 0;
  private windowTimer: TimerHandle | undefined;

  constructor(private readonly options: WorkstationRefusalsOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxPerWindow = options.maxPerWindow ?? 20;
  }

  /** Audits the refusal unless held back; never throws (the request is refused either way). */
  async refused(refusal: WorkstationRefusal): Promise<void> {
    // Only a well-formed id is written; anything else the URL held is not.
    const id =
      typeof refusal.workstation === 'string' && workstationId.test(refusal.workstation)
        ? refusal.workstation
        : undefined;
    this.windowTimer ??= this.options.clock.setTimeout(() => void this.closeWindow(), this.windowMs);
    const key = `${id ?? ''}\n${refusal.reason}`;
    if (this.seen.has(key) || this.written >= this.maxPerWindow) {
      this.suppressed++;
      return;
    }
    this.seen.add(key);
    this.written++;
    await this.write({
      actor: 'anonymous',
      action: 'workstation.auth-refused',
      target: id ? `workstation:${id}` : null,
      details: {
        reason: refusal.reason,
        route: refusal.route,
        ...(id ? {} : { workstation: 'malformed' }),
        ...(refusal.tokenOf ? { tokenOf: `workstation:${refusal.tokenOf}` } : {}),
      },
    });
  }

  /** Writes what the open window held back (stop, or the window's end). */
  async flush(): Promise<void> {
    this.windowTimer?.cancel();
    await this.closeWindow();
  }

  private async closeWindow(): Promise<void> {
    const suppressed = this.suppressed;
    const windowSeconds = Math.round(this.windowMs / 1000);
    this.windowTimer = undefined;
    this.seen = new Set();
    this.written = 0;
    this.suppressed = 0;
    if (suppressed === 0) return;
    this.options.log.warn(
      { suppressed, windowSeconds },
      'security: many refused workstation credentials; the audit log holds one entry per workstation and reason a window',
    );
    await this.write({
      actor: 'anonymous',
      action: 'workstation.auth-refused-suppressed',
      target: null,
      details: { count: suppressed, windowSeconds },
    });
  }

  private async write(entry: Parameters<AuditLog['record']>[0]): Promise<void> {
    try {
      await this.options.audit.record(entry);
    } catch (error) {
      this.options.log.error({ err: error, action: entry.action }, 'refused workstation request not audited');
    }
  }
}
