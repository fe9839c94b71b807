import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { type BucketLimits, TokenBuckets } from '../../lib/token-buckets.js';
import type { AuditEntry, AuditLog } from '../audit/audit-log.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { workstationAlarmKey } from './alarm-keys.js';

/**
 * Login checks per workstation, throttled. Each check is audited and says whether someone is in
 * the room now, so a workstation credential in the wrong hands could flood the audit log or probe
 * who is present. Each workstation gets a token bucket far above what people logging in reach;
 * a check beyond it is denied (`throttled`) without touching the database, and the flood is
 * written as a whole: one entry when it begins, one with its count every `reportMs` while it goes
 * on and when it ends, with a `workstation-login-flood` warning open meanwhile. It ends once the
 * workstation has gone the bucket's refill time without a throttled check, at that check or the
 * timer, whichever comes first. Buckets and floods are kept for workstations that authenticated
 * only (the route's token check comes first), and dropped once refilled or calm.
 */
export interface LoginCheckThrottleOptions {
  limits: BucketLimits;
  audit: Pick<AuditLog, 'record'>;
  alarms: Pick<AlarmStore, 'raiseCentralUnlessOpen' | 'clearCentralAnySite' | 'clearCentralOfType'>;
  alarmsChanged: (changed: AlarmView[]) => void;
  /** The workstation's site, for its alarm. */
  siteOf: (workstation: string) => string | undefined;
  clock: Clock;
  log: Logger;
  /** While a flood goes on, its count so far is written this often (and its warning kept open). */
  reportMs?: number;
}

interface Flood {
  since: number;
  throttled: number;
  /** The last throttled check. */
  lastAt: number;
  reportedAt: number;
}

export const floodAlarmKey = (workstation: string) =>
  workstationAlarmKey('workstation-login-flood', workstation);

export class LoginCheckThrottle {
  private readonly buckets: TokenBuckets;
  /**
   * The workstation's reports (lock results, break-glass, heartbeats) have an allowance of their
   * own, three times the checks' burst at twice their rate: an agent resending a backlog of lock
   * results after an outage must not use up the next person's login checks.
   */
  private readonly reports: TokenBuckets;
  private readonly floods = new Map<string, Flood>();
  private readonly reportMs: number;
  private timer: TimerHandle | undefined;
  /** The floods' audit entries and alarms, one after the other: an end never overtakes its begin. */
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly options: LoginCheckThrottleOptions) {
    this.buckets = new TokenBuckets(options.limits);
    this.reports = new TokenBuckets({
      burst: options.limits.burst * 3,
      intervalMs: options.limits.intervalMs / 2,
    });
    this.reportMs = options.reportMs ?? 5 * 60_000;
  }

  /** A flooding workstation is calm again after this long without a throttled check. */
  get calmMs(): number {
    return this.buckets.refillMs;
  }

  /** Workstations with a bucket or a flood in memory. */
  get tracked(): { buckets: number; floods: number } {
    return { buckets: this.buckets.size + this.reports.size, floods: this.floods.size };
  }

  /**
   * Clears the warnings an instance left open when it ended without stop() (a crash): only a
   * running instance knows whether a flood goes on, and one that still sees it raises it again
   * with its next report.
   */
  async start(): Promise<void> {
    const cleared = await this.options.alarms.clearCentralOfType('workstation-login-flood');
    if (cleared.length > 0) this.options.alarmsChanged(cleared);
  }

  /**
   * Whether this check of `workstation` may be answered; false: deny it as `throttled` and write
   * nothing for it. A flood that has calmed is ended (audited, its warning cleared) before the
   * check is decided; the check that begins a flood resolves once that is audited and raised.
   * `report`: a report, taken from the reports' allowance; beyond it, it is a flood all the same.
   */
  async admit(workstation: string, kind: 'check' | 'report' = 'check'): Promise<boolean> {
    const now = this.options.clock.now();
    const calmed = this.floods.get(workstation);
    if (calmed && this.isCalm(calmed, now)) await this.end(workstation, calmed, 'calm');
    if ((kind === 'check' ? this.buckets : this.reports).take(workstation, now)) return true;
    const flood = this.floods.get(workstation);
    if (flood) {
      flood.throttled += 1;
      flood.lastAt = now;
      return false;
    }
    this.floods.set(workstation, { since: now, throttled: 1, lastAt: now, reportedAt: now });
    this.schedule(now);
    await this.begin(workstation);
    return false;
  }

  /** Ends every flood (audited, warnings cleared) and waits for what is being written. */
  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    for (const [workstation, flood] of this.floods) void this.end(workstation, flood, 'stopped');
    await this.writes;
  }

  /** Resolves once the entries and alarms of the floods so far are written. */
  idle(): Promise<void> {
    return this.writes;
  }

  private begin(workstation: string): Promise<void> {
    const { burst, intervalMs } = this.options.limits;
    const site = this.options.siteOf(workstation);
    return this.enqueue(async () => {
      this.options.log.warn(
        { workstation },
        'security: a workstation asks for login checks faster than people log in; its checks are denied (throttled)',
      );
      await this.audit({
        actor: `workstation:${workstation}`,
        action: 'workstation.login-throttled',
        target: `workstation:${workstation}`,
        details: { burst, intervalSeconds: intervalMs / 1000 },
      });
      await this.raise(workstation, site);
    });
  }

  private report(workstation: string, flood: Flood, now: number): Promise<void> {
    flood.reportedAt = now;
    const details = { throttled: flood.throttled, since: new Date(flood.since).toISOString() };
    const site = this.options.siteOf(workstation);
    return this.enqueue(async () => {
      await this.audit({
        actor: 'system',
        action: 'workstation.login-throttle-continues',
        target: `workstation:${workstation}`,
        details,
      });
      // Another instance may have cleared it (it stopped, or started after a crash).
      await this.raise(workstation, site);
    });
  }

  private end(workstation: string, flood: Flood, reason: 'calm' | 'stopped'): Promise<void> {
    // At once, so that the checks arriving meanwhile neither end it again nor count into it.
    this.floods.delete(workstation);
    const details = { throttled: flood.throttled, since: new Date(flood.since).toISOString(), reason };
    return this.enqueue(async () => {
      this.options.log.info({ workstation, ...details }, 'a workstation flooding login checks ended');
      await this.audit({
        actor: 'system',
        action: 'workstation.login-throttle-ended',
        target: `workstation:${workstation}`,
        details,
      });
      try {
        const cleared = await this.options.alarms.clearCentralAnySite(floodAlarmKey(workstation));
        if (cleared.length > 0) this.options.alarmsChanged(cleared);
      } catch (error) {
        this.options.log.error({ err: error, workstation }, 'workstation-login-flood not cleared');
      }
    });
  }

  /**
   * Calm: no throttled check for the refill time. A wall clock set back to before the last one
   * hides how long it has been; the flood counts as calm then, so that neither it nor its warning
   * stays open for as long as the step (a new flood begins if the checks go on).
   */
  private isCalm(flood: Flood, now: number): boolean {
    return now < flood.lastAt || now - flood.lastAt >= this.calmMs;
  }

  /** Ends calm floods and reports long ones; runs while any flood is open. */
  private sweep(): void {
    const now = this.options.clock.now();
    for (const [workstation, flood] of this.floods) {
      if (this.isCalm(flood, now)) void this.end(workstation, flood, 'calm');
      // A clock set back starts the report's interval anew rather than holding it for the step.
      else if (now < flood.reportedAt) flood.reportedAt = now;
      else if (now - flood.reportedAt >= this.reportMs) void this.report(workstation, flood, now);
    }
    this.schedule(now);
  }

  private schedule(now: number): void {
    if (this.timer || this.floods.size === 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const flood of this.floods.values())
      next = Math.min(
        next,
        Math.min(flood.lastAt, now) + this.calmMs,
        Math.min(flood.reportedAt, now) + this.reportMs,
      );
    this.timer = this.options.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.sweep();
      },
      Math.max(1, next - now),
    );
  }

  /** Writes run in order; each logs its own failures, and the queue never rejects. */
  private enqueue(write: () => Promise<void>): Promise<void> {
    this.writes = this.writes
      .then(write)
      .catch((error: Error) => this.options.log.error({ err: error }, 'login-check flood not recorded'));
    return this.writes;
  }

  private async audit(entry: AuditEntry): Promise<void> {
    try {
      await this.options.audit.record(entry);
    } catch (error) {
      this.options.log.error(
        { err: error, action: entry.action, target: entry.target },
        'security: a workstation login-check flood not audited',
      );
    }
  }

  private async raise(workstation: string, site: string | undefined): Promise<void> {
    const { burst, intervalMs } = this.options.limits;
    try {
      const raised = await this.options.alarms.raiseCentralUnlessOpen({
        alarm: 'workstation-login-flood',
        key: floodAlarmKey(workstation),
        severity: 'warning',
        ...(site ? { site } : {}),
        detail:
          `workstation ${workstation} asks for login checks beyond ${burst} at once and one per ${intervalMs / 1000} s: they are denied until it is calm for ${Math.round(this.calmMs / 1000)} s. Its credential may be in the wrong hands.`.slice(
            0,
            500,
          ),
      });
      if (raised.length > 0) this.options.alarmsChanged(raised);
    } catch (error) {
      this.options.log.error({ err: error, workstation }, 'workstation-login-flood not raised');
    }
  }
}
