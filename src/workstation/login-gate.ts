import { createHash, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { CodedError } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { appendJournal } from './break-glass-journal.js';
import { type CentralClient, retryable } from './central-client.js';
import { LocalRetention, listJson } from './local-retention.js';
import { CONFIRMED_DIR, GRANTS_DIR, REPORTS_DIR, reportName, USER_PATTERN } from './state-layout.js';

/**
 * The workstation side of a login check. Central decides whenever it answers. When it does not
 * (down, unreachable, failing), the workstation fails closed: it allows only a user central
 * allowed within the last `graceMs`, or one holding a break-glass grant; everyone else is
 * denied. Break-glass is the documented emergency path: a code from a sealed envelope, a reason,
 * a local journal entry, and a report to central that raises an alarm (sent at once, or with
 * the next check that reaches central). After every check the local retention runs
 * (local-retention.ts): what it keeps naming users goes once it has served its purpose.
 */
export type GateReason =
  | 'not-present'
  | 'other-room'
  | 'lease-expired'
  | 'compliance-lapsed'
  | 'unknown-workstation'
  | 'unknown-user'
  | 'presence-unknown'
  | 'throttled'
  | 'bad-request'
  | 'central-unreachable';

export type GateVerdict =
  | { allow: true; via: 'central' | 'grace' | 'break-glass'; detail?: string }
  | { allow: false; reason: GateReason; detail?: string };

export interface LoginGateOptions {
  client: CentralClient;
  clock: Clock;
  stateDir: string;
  graceMs: number;
  /** How long the break-glass journal and undelivered reports are kept (workstation retentionDays). */
  retentionDays: number;
  breakGlass?: { codeSha256: string; minutes: number };
  log: Logger;
}

/**
 * Central answered, and denies: no grace, no break-glass, since it is reachable. Someone (or
 * something) on this workstation asks far more often than people log in; central has raised an
 * alarm for it.
 */
const THROTTLED = "central refuses this workstation's login checks for now: far too many in a short time";

/** The code whose hash the shipped sample configuration carries (hardware/pam/workstation.yaml). */
const SAMPLE_CODE = 'replace-me';
const REASONS = new Set<string>([
  'not-present',
  'other-room',
  'lease-expired',
  'compliance-lapsed',
  'unknown-workstation',
  'unknown-user',
]);

/**
 * Where central's last allow for `user` is kept: the grace while central is unreachable runs from
 * it. Only valid user names make a path (no separators, no `..`).
 */
export function confirmedFile(stateDir: string, user: string): string {
  if (!USER_PATTERN.test(user))
    throw new CodedError('IDG_GATE_USER', `not a valid user name: ${JSON.stringify(user)}`);
  return join(stateDir, CONFIRMED_DIR, `${user}.json`);
}

/**
 * Ends the grace of `user`, or of every user (`all`): a lock on leave says the person left, so
 * central's last allow must not let them back in while central is unreachable. Returns how many
 * were removed.
 */
export function endGrace(stateDir: string, who: { user: string } | 'all'): number {
  const files =
    who === 'all'
      ? listJson(join(stateDir, CONFIRMED_DIR)).map((name) => join(stateDir, CONFIRMED_DIR, name))
      : [confirmedFile(stateDir, who.user)];
  let removed = 0;
  for (const file of files) {
    try {
      rmSync(file);
      removed += 1;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return removed;
}

interface Grant {
  user: string;
  reason: string;
  at: number;
  until: number;
}

export class LoginGate {
  private readonly retention: LocalRetention;

  constructor(private readonly options: LoginGateOptions) {
    const { stateDir, graceMs, retentionDays, clock, log } = options;
    this.retention = new LocalRetention({ stateDir, graceMs, retentionDays, clock, log });
  }

  /** Central's verdict, or the workstation's own while central cannot give one; then retention. */
  async check(user: string): Promise<GateVerdict> {
    const verdict = await this.decide(user);
    // Never throws, whatever the disk does: the verdict stands as decided.
    this.retention.run();
    return verdict;
  }

  private async decide(user: string): Promise<GateVerdict> {
    if (!USER_PATTERN.test(user))
      return { allow: false, reason: 'bad-request', detail: 'not a valid user name' };
    const reply = await this.options.client.post('/login-check', { user });
    // Central answered that it cannot vouch for presence now (a dashboard instance that does not
    // hear the others): as good as no answer, so the grace and break-glass below apply, and the
    // user's last allow is kept.
    const unsure =
      reply.reached &&
      reply.status === 200 &&
      (reply.body as { reason?: unknown } | undefined)?.reason === 'presence-unknown';
    if (reply.reached && reply.status < 500) {
      // Central answered: report any break-glass use it has not heard of yet.
      await this.flushReports();
    }
    if (reply.reached && reply.status < 500 && !unsure) {
      if (reply.status === 401) return this.forget(user, { allow: false, reason: 'unknown-workstation' });
      const body = reply.body as { allow?: unknown; reason?: unknown } | undefined;
      if (reply.status === 200 && body?.allow === true) {
        this.remember(user);
        return { allow: true, via: 'central' };
      }
      if (reply.status === 200 && body?.reason === 'throttled')
        return this.forget(user, { allow: false, reason: 'throttled', detail: THROTTLED });
      if (reply.status === 200 && typeof body?.reason === 'string' && REASONS.has(body.reason))
        return this.forget(user, { allow: false, reason: body.reason as GateReason });
      return this.forget(user, { allow: false, reason: 'bad-request', detail: `HTTP ${reply.status}` });
    }
    const why = reply.reached ? `HTTP ${reply.status}` : reply.detail;
    const cause = unsure
      ? 'central cannot vouch for presence now (presence-unknown)'
      : `central unreachable (${why})`;
    const now = this.options.clock.now();
    const last = this.readJson<{ at: unknown }>(confirmedFile(this.options.stateDir, user));
    // Never from a time ahead of now: a clock set back would stretch the grace to that time.
    if (last && typeof last.at === 'number' && last.at <= now && now - last.at < this.options.graceMs) {
      return {
        allow: true,
        via: 'grace',
        detail: `${cause}; allowed ${Math.round((now - last.at) / 1000)} s after central's last allow`,
      };
    }
    const grant = this.readJson<Grant>(this.path(join(GRANTS_DIR, `${user}.json`)));
    if (grant && this.grantValid(grant, user, now)) {
      this.journal({ event: 'break-glass-login', user, at: now });
      return {
        allow: true,
        via: 'break-glass',
        detail: `${cause}; break-glass grant until ${new Date(grant.until).toISOString()}`,
      };
    }
    return unsure
      ? { allow: false, reason: 'presence-unknown', detail: cause }
      : { allow: false, reason: 'central-unreachable', detail: why };
  }

  /**
   * A grant counts for `user` only as written: theirs, begun no later than now, running now, and
   * no longer than the configured minutes (a clock set back, or a file written by hand, gives
   * nothing more).
   */
  private grantValid(grant: Partial<Grant>, user: string, now: number): boolean {
    const minutes = this.options.breakGlass?.minutes;
    return (
      minutes !== undefined &&
      grant.user === user &&
      typeof grant.at === 'number' &&
      typeof grant.until === 'number' &&
      grant.at <= now &&
      now < grant.until &&
      grant.until - grant.at <= minutes * 60_000
    );
  }

  /** Grants `user` emergency login; the code must match the sealed one. Reports it to central if reachable. */
  async breakGlass(
    user: string,
    code: string,
    reason: string,
  ): Promise<{ until: number; reported: boolean }> {
    const settings = this.options.breakGlass;
    if (!settings)
      throw new CodedError('IDG_BREAK_GLASS_OFF', 'break-glass is not configured (breakGlass.codeSha256)');
    if (!USER_PATTERN.test(user))
      throw new CodedError('IDG_BREAK_GLASS_USER', `not a valid user name: ${JSON.stringify(user)}`);
    if (reason.trim().length < 5)
      throw new CodedError(
        'IDG_BREAK_GLASS_REASON',
        'give the reason for the emergency (at least 5 characters)',
      );
    if (code.trim() === SAMPLE_CODE)
      throw new CodedError(
        'IDG_BREAK_GLASS_SAMPLE',
        'the sample break-glass code is never accepted: set breakGlass.codeSha256 to your own',
      );
    const now = this.options.clock.now();
    const presented = createHash('sha256').update(code.trim(), 'utf8').digest();
    if (!timingSafeEqual(presented, Buffer.from(settings.codeSha256, 'hex'))) {
      this.journal({ event: 'break-glass-refused', user, at: now });
      try {
        this.queueReport({ user, reason: reason.trim(), at: now, outcome: 'refused' });
      } catch (error) {
        this.options.log.error(
          { code: (error as NodeJS.ErrnoException).code },
          'security: the report of a refused break-glass code cannot be kept; it is sent now or never',
        );
      }
      await this.flushReports();
      throw new CodedError('IDG_BREAK_GLASS_CODE', 'wrong break-glass code (the attempt is recorded)');
    }
    const grant: Grant = { user, reason: reason.trim(), at: now, until: now + settings.minutes * 60_000 };
    // The report first: an emergency login central could never hear of is not granted.
    this.queueReport({ user, reason: grant.reason, at: now, outcome: 'granted' });
    this.writeJson(this.path(join(GRANTS_DIR, `${user}.json`)), grant);
    this.journal({ event: 'break-glass-granted', user, at: now, until: grant.until, reason: grant.reason });
    const reported = await this.flushReports();
    return { until: grant.until, reported };
  }

  /**
   * Sends queued break-glass reports, oldest first, removing each once central has taken it; true
   * when none is left. One that cannot be read is logged and skipped (retention ends it after
   * retentionDays); one that is not JSON can never be delivered and is removed, with an error.
   */
  async flushReports(): Promise<boolean> {
    const dir = this.path(REPORTS_DIR);
    let files: string[];
    try {
      files = readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.options.log.error(
          { code: (error as NodeJS.ErrnoException).code },
          'security: the pending break-glass reports cannot be listed; they are not sent',
        );
      return true;
    }
    let left = 0;
    for (const file of files) {
      const read = this.readReport(join(dir, file));
      if (read === 'unreadable') {
        left += 1;
        continue;
      }
      if (read === 'garbage') continue;
      const reply = await this.options.client.post('/break-glass', read.report);
      if (!reply.reached || retryable(reply.status)) return false;
      // A refusal of the report itself (400, 422) is final; keep it in the journal.
      if (reply.status !== 200)
        this.journal({
          event: 'break-glass-report-refused',
          at: this.options.clock.now(),
          file,
          status: reply.status,
        });
      rmSync(join(dir, file), { force: true });
    }
    return left === 0;
  }

  private readReport(file: string): { report: unknown } | 'unreadable' | 'garbage' {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      this.options.log.error(
        { code: (error as NodeJS.ErrnoException).code },
        'security: a pending break-glass report cannot be read; it is not sent',
      );
      return 'unreadable';
    }
    try {
      return { report: JSON.parse(text) as unknown };
    } catch {
      try {
        rmSync(file, { force: true });
      } catch (error) {
        this.options.log.error(
          { code: (error as NodeJS.ErrnoException).code },
          'security: a pending break-glass report is corrupt and cannot be removed; it is not sent',
        );
        return 'unreadable';
      }
      this.options.log.error(
        'security: a pending break-glass report was corrupt and could never be delivered; removed (the journal keeps the break-glass use)',
      );
      return 'garbage';
    }
  }

  private queueReport(report: {
    user: string;
    reason: string;
    at: number;
    outcome: 'granted' | 'refused';
  }): void {
    this.writeJson(this.path(join(REPORTS_DIR, reportName(report.at, report.user))), {
      user: report.user,
      reason: report.reason.slice(0, 300),
      at: new Date(report.at).toISOString(),
      outcome: report.outcome,
    });
  }

  /** Central's allow, kept for the grace; a disk that refuses it costs the grace, not the login. */
  private remember(user: string): void {
    try {
      this.writeJson(confirmedFile(this.options.stateDir, user), { at: this.options.clock.now() });
    } catch (error) {
      this.options.log.error(
        { code: (error as NodeJS.ErrnoException).code },
        "central's allow could not be kept: no grace for this user while central is unreachable",
      );
    }
  }

  private forget(user: string, verdict: GateVerdict): GateVerdict {
    endGrace(this.options.stateDir, { user });
    return verdict;
  }

  /** Appends to the break-glass journal; a disk that refuses it is logged, the check goes on. */
  private journal(entry: Record<string, unknown>): void {
    try {
      appendJournal(this.options.stateDir, entry);
    } catch (error) {
      this.options.log.error(
        { code: (error as NodeJS.ErrnoException).code, event: entry.event },
        'security: the break-glass journal cannot be appended to',
      );
    }
  }

  private path(relative: string): string {
    return join(this.options.stateDir, relative);
  }

  private readJson<T>(file: string): T | undefined {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Whole or not at all (a temporary file, synced, renamed): a reader never sees half a file. */
  private writeJson(file: string, value: unknown): void {
    writeFileAtomic(file, JSON.stringify(value), 0o600);
  }
}
