import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { type CentralReply, retryable } from './central-client.js';

/**
 * Lock results central did not take (unreachable, or failing with a 5xx): every result is audit
 * evidence, and an `ok` is what ends central's resends, so each is kept in
 * `<stateDir>/lock-results/<time>-<n>.json` (0600, written atomically) and sent again, oldest
 * first, before the next result and at every heartbeat, until central takes it. A result central
 * refuses (4xx) is dropped with a warning; one older than `keepMs` is dropped with an error. The
 * files name no user: a command id, a status, a reason, a time.
 */
export const RESULTS_DIR = 'lock-results';

export interface UnreportedResult {
  command?: string;
  status: 'ok' | 'failed' | 'rejected';
  reason?: string;
}

export interface UnreportedResultsOptions {
  stateDir: string;
  keepMs: number;
  clock: Clock;
  log: Logger;
}

const NAME = /^(\d{1,15})-(\d{1,6})\.json$/;

export class UnreportedResults {
  private readonly dir: string;
  private count = 0;

  constructor(private readonly options: UnreportedResultsOptions) {
    this.dir = join(options.stateDir, RESULTS_DIR);
  }

  /** Keeps a result central did not take; a failure to write it is logged (it is then lost). */
  keep(result: UnreportedResult): void {
    const at = this.options.clock.now();
    this.count = (this.count + 1) % 1_000_000;
    try {
      writeFileAtomic(join(this.dir, `${at}-${this.count}.json`), `${JSON.stringify({ ...result, at })}\n`);
    } catch (error) {
      this.options.log.error(
        { err: error, command: result.command },
        'workstation agent: a lock result central did not take could not be kept; it is lost',
      );
    }
  }

  /**
   * Sends the kept results, oldest first, with `post`; stops at the first one central does not
   * take for a reason that may pass (unreachable, 5xx). Returns how many are still kept.
   */
  async flush(post: (result: UnreportedResult) => Promise<CentralReply>): Promise<number> {
    const { clock, keepMs, log } = this.options;
    const files = this.files();
    for (const [index, { name, at }] of files.entries()) {
      const path = join(this.dir, name);
      let result: UnreportedResult;
      try {
        const parsed = JSON.parse(readFileSync(path, 'utf8')) as UnreportedResult & { at?: unknown };
        if (typeof parsed.status !== 'string') throw new Error('no status');
        result = {
          status: parsed.status,
          ...(typeof parsed.command === 'string' ? { command: parsed.command } : {}),
          ...(typeof parsed.reason === 'string' ? { reason: parsed.reason } : {}),
        };
      } catch (error) {
        log.error({ err: error, file: name }, 'workstation agent: an unreadable kept lock result is dropped');
        rmSync(path, { force: true });
        continue;
      }
      if (clock.now() - at > keepMs) {
        log.error(
          { command: result.command, status: result.status },
          'security: a lock result central never took is dropped after its keeping time',
        );
        rmSync(path, { force: true });
        continue;
      }
      const reply = await post(result);
      if (reply.reached && reply.status === 200) {
        rmSync(path, { force: true });
      } else if (reply.reached && !retryable(reply.status)) {
        log.warn({ command: result.command, status: reply.status }, 'central refused a kept lock result');
        rmSync(path, { force: true });
      } else {
        return files.length - index;
      }
    }
    return 0;
  }

  private files(): Array<{ name: string; at: number; n: number }> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.options.log.error({ err: error }, 'workstation agent: the kept lock results cannot be listed');
      return [];
    }
    return names
      .map((name) => ({ name, match: NAME.exec(name) }))
      .filter((f): f is { name: string; match: RegExpExecArray } => f.match !== null)
      .map(({ name, match }) => ({ name, at: Number(match[1]), n: Number(match[2]) }))
      .sort((a, b) => a.at - b.at || a.n - b.n);
  }
}
