import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { processRuns } from '../lib/process-runs.js';
import { type JournalLine, rewriteJournal } from './break-glass-journal.js';
import { CONFIRMED_DIR, GRANTS_DIR, parseReportName, REPORTS_DIR, tempFileWriter } from './state-layout.js';

/** How far ahead of the clock a file's own time may be before it counts as written by a wrong clock. */
const FUTURE_SKEW_MS = 60_000;
/**
 * Retention of what the workstation side keeps under `stateDir` (GDPR Art. 5(1)(e)): nothing that
 * names a user outlives its purpose. A confirmed login goes once its grace has passed, a
 * break-glass grant once it has expired, journal lines and undelivered reports after
 * `retentionDays`. Run by the login gate after every check and by the agent at start and hourly.
 * It never throws: a failure is logged and the check or agent goes on as without it. Log lines
 * never name a user (file names do, so only error codes are logged).
 */
export interface LocalRetentionOptions {
  stateDir: string;
  graceMs: number;
  retentionDays: number;
  clock: Clock;
  log: Logger;
}

export interface RetentionOutcome {
  /** Confirmed logins past their grace. */
  confirmed: number;
  /** Expired break-glass grants. */
  grants: number;
  /** Journal lines older than retentionDays. */
  journalLines: number;
  /** Break-glass reports never delivered within retentionDays. */
  undeliveredReports: number;
  /** Files that could be nothing but garbage (not JSON of the expected shape). */
  garbage: number;
  /** Temporary files left by a writer that no longer runs. */
  tempFiles: number;
  /** Steps or files that failed (logged). */
  failures: number;
}

const DAY_MS = 86_400_000;

export class LocalRetention {
  constructor(private readonly options: LocalRetentionOptions) {}

  run(): RetentionOutcome {
    const now = this.options.clock.now();
    const outcome: RetentionOutcome = {
      confirmed: 0,
      grants: 0,
      journalLines: 0,
      undeliveredReports: 0,
      garbage: 0,
      tempFiles: 0,
      failures: 0,
    };
    this.step('confirmed', outcome, () => this.expireConfirmed(now, outcome));
    this.step('grants', outcome, () => this.expireGrants(now, outcome));
    this.step('reports', outcome, () => this.expireReports(now, outcome));
    this.step('journal', outcome, () => this.trimJournal(now, outcome));
    this.step('temporary files', outcome, () => this.removeStaleTempFiles(outcome));
    const removed = outcome.confirmed + outcome.grants + outcome.journalLines + outcome.tempFiles;
    if (removed + outcome.garbage + outcome.undeliveredReports > 0)
      this.options.log.debug({ ...outcome }, 'workstation retention removed expired local data');
    return outcome;
  }

  private get retentionMs(): number {
    return this.options.retentionDays * DAY_MS;
  }

  /** Central's last allow is only needed for the grace after it. */
  private expireConfirmed(now: number, outcome: RetentionOutcome): void {
    this.eachJsonFile(CONFIRMED_DIR, outcome, (value) => {
      const at = (value as { at?: unknown } | null)?.at;
      if (typeof at !== 'number' || !Number.isFinite(at)) return 'garbage';
      // Dated ahead of now (written under a clock that was ahead): it gives no grace, and must
      // not once the clock catches up.
      if (at > now + FUTURE_SKEW_MS) return 'expired';
      return now - at >= this.options.graceMs ? 'expired' : 'keep';
    });
  }

  /** A grant lets its user in until `until`; afterwards it is useless. */
  private expireGrants(now: number, outcome: RetentionOutcome): void {
    this.eachJsonFile(GRANTS_DIR, outcome, (value) => {
      const { until, at } = (value ?? {}) as { until?: unknown; at?: unknown };
      if (typeof until !== 'number' || !Number.isFinite(until)) return 'garbage';
      if (typeof at === 'number' && at > now + FUTURE_SKEW_MS) return 'expired';
      return until <= now ? 'expired' : 'keep';
    });
  }

  private eachJsonFile(
    dir: typeof CONFIRMED_DIR | typeof GRANTS_DIR,
    outcome: RetentionOutcome,
    judge: (value: unknown) => 'keep' | 'expired' | 'garbage',
  ): void {
    for (const name of listJson(join(this.options.stateDir, dir))) {
      const file = join(this.options.stateDir, dir, name);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue; // removed meanwhile
        this.failed(outcome, error, `workstation retention: a file in ${dir}/ cannot be read; skipped`, dir);
        continue;
      }
      let verdict: 'keep' | 'expired' | 'garbage';
      try {
        verdict = judge(JSON.parse(text));
      } catch {
        verdict = 'garbage';
      }
      if (verdict === 'keep') continue;
      if (!this.remove(file, outcome, dir)) continue;
      if (verdict === 'garbage') {
        outcome.garbage += 1;
        this.options.log.warn({ dir }, `workstation retention: removed a corrupt file from ${dir}/`);
      } else if (dir === CONFIRMED_DIR) outcome.confirmed += 1;
      else outcome.grants += 1;
    }
  }

  /**
   * Delivered reports are removed as central takes them (LoginGate.flushReports). One still here
   * after retentionDays is kept, with an error logged at every run: it is the only evidence central
   * would get of an emergency login, and the age is the writer's clock, which may have been wrong
   * (a clock stepped forward must not destroy it). While any report waits, the journal is not
   * trimmed either (trimJournal).
   */
  private expireReports(now: number, outcome: RetentionOutcome): void {
    const dir = join(this.options.stateDir, REPORTS_DIR);
    for (const name of listJson(dir)) {
      const file = join(dir, name);
      let at = parseReportName(name)?.at;
      if (at === undefined) {
        try {
          at = statSync(file).mtimeMs;
        } catch (error) {
          if (errorCode(error) !== 'ENOENT')
            this.failed(
              outcome,
              error,
              'workstation retention: a pending report cannot be read',
              REPORTS_DIR,
            );
          continue;
        }
      }
      if (now - at <= this.retentionMs) continue;
      outcome.undeliveredReports += 1;
      this.options.log.error(
        { reportAt: new Date(at).toISOString(), retentionDays: this.options.retentionDays },
        'security: a break-glass report has not reached central for longer than retentionDays; it is kept until it does',
      );
    }
  }

  /** Drops journal lines older than retentionDays; the newer ones stay byte for byte. */
  private trimJournal(now: number, outcome: RetentionOutcome): void {
    if (listJson(join(this.options.stateDir, REPORTS_DIR)).length > 0) {
      // The journal lines of a break-glass use central has not heard of stay with its report.
      this.options.log.debug('workstation retention: a break-glass report waits; the journal is not trimmed');
      return;
    }
    const cutoff = now - this.retentionMs;
    const result = rewriteJournal(this.options.stateDir, (lines) => expiredLines(lines, cutoff));
    if (result === 'changed-meanwhile') {
      this.options.log.debug('workstation retention: the journal changed meanwhile; trimmed at the next run');
      return;
    }
    outcome.journalLines += result.dropped;
  }

  /**
   * A crash during an atomic write leaves `<file>.tmp-<pid>`: a copy of the journal, or of an
   * allow, grant or report (named after its user), in the state directory or its folders.
   */
  private removeStaleTempFiles(outcome: RetentionOutcome): void {
    for (const dir of ['.', CONFIRMED_DIR, GRANTS_DIR, REPORTS_DIR]) {
      let names: string[];
      try {
        names = readdirSync(join(this.options.stateDir, dir));
      } catch (error) {
        if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') continue;
        throw error;
      }
      for (const name of names) {
        const pid = tempFileWriter(name);
        if (pid === undefined || pid === process.pid || processRuns(pid)) continue;
        if (this.remove(join(this.options.stateDir, dir, name), outcome, dir)) outcome.tempFiles += 1;
      }
    }
  }

  private remove(file: string, outcome: RetentionOutcome, dir: string): boolean {
    try {
      rmSync(file, { force: true });
      return true;
    } catch (error) {
      this.failed(outcome, error, `workstation retention: cannot remove a file from ${dir}/`, dir);
      return false;
    }
  }

  private step(name: string, outcome: RetentionOutcome, run: () => void): void {
    try {
      run();
    } catch (error) {
      this.failed(outcome, error, `workstation retention: ${name} failed; the rest goes on`, name);
    }
  }

  /** Logs the error's code and call, never its message: that holds a path, which can name a user. */
  private failed(outcome: RetentionOutcome, error: unknown, message: string, where: string): void {
    outcome.failures += 1;
    const { code, syscall } = error as NodeJS.ErrnoException;
    this.options.log.error(
      { where, code: code ?? (error as Error).name, ...(syscall ? { syscall } : {}) },
      message,
    );
  }
}

/**
 * Lines written before the cutoff. A line that does not say when it was written (unreadable, or
 * torn) is as old as the next one that does, since the journal is appended in time order: it goes
 * when a later line has expired.
 */
export function expiredLines(lines: readonly JournalLine[], cutoff: number): boolean[] {
  const drop: boolean[] = new Array(lines.length).fill(false);
  let laterExpired = false;
  for (let index = lines.length - 1; index >= 0; index -= 1) {
    const at = lines[index]?.at;
    if (at === undefined) drop[index] = laterExpired;
    else {
      const expired = at < cutoff;
      drop[index] = expired;
      laterExpired ||= expired;
    }
  }
  return drop;
}

/** The `.json` files of a directory; none when it does not exist. */
export function listJson(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .sort();
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return [];
    throw error;
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}
