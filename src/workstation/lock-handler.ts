import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { CentralKeys } from '../protocol/signing.js';
import { checkLockCommand, type WorkstationCommand } from '../protocol/workstation-commands.js';
import { type CentralClient, retryable } from './central-client.js';
import { endGrace } from './login-gate.js';
import type { SeenLockCommands } from './seen-lock-commands.js';
import type { UnreportedResults } from './unreported-results.js';

/**
 * What the workstation agent does with the lock commands it receives, one batch after the other:
 * every command waiting when a batch starts is checked (central signature, addressed here, within
 * its validity or late, not run before); the valid ones are remembered, end their users' login
 * grace, and are all satisfied by one run of the lock program. Central re-sends an owed lock until
 * it hears `ok`, so an agent back from an outage may get many at once: they lock once. A command
 * received while the program runs waits for the next run. Every outcome is reported to central.
 */
export interface LockResult {
  command?: string;
  status: 'ok' | 'failed' | 'rejected';
  reason?: string;
  reported: boolean;
}

export type LockOutcome = { status: 'ok' | 'failed'; reason?: string };

export interface LockHandlerOptions {
  site: string;
  workstation: string;
  /** The central key that signs lock commands; during a rotation of it, the old and the new one. */
  centralKey: CentralKeys;
  /** How long after its issue an expired command is still run (0: never). */
  lateMs: number;
  seen: SeenLockCommands;
  /** Where the login gate keeps central's last allows (the grace a lock ends). */
  stateDir: string;
  /** Runs the lock program once. */
  lock: () => Promise<LockOutcome>;
  central: CentralClient;
  clock: Clock;
  log: Logger;
  /** Results central did not take, sent again before the next and at every flush(). */
  unreported?: UnreportedResults;
  /** Told after each command has been handled and reported (tests await it). */
  onResult?: (result: LockResult) => void;
}

type Report = Omit<LockResult, 'reported'>;

interface Accepted {
  command: WorkstationCommand;
  late: boolean;
}

export class LockHandler {
  private readonly queue: Buffer[] = [];
  private draining = false;
  private drained: Promise<void> = Promise.resolve();
  private reporting: Promise<void> = Promise.resolve();

  constructor(private readonly options: LockHandlerOptions) {}

  /**
   * Queues a received payload; handled after those before it. The first of a burst waits for the
   * event loop's next turn, so that everything the broker delivered with it (the messages held
   * for a persistent session arrive together) is waiting when the batch starts.
   */
  receive(payload: Buffer): void {
    this.queue.push(payload);
    if (this.draining) return;
    this.draining = true;
    this.drained = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
  }

  /** Sends the results central did not take yet (the agent calls it with every heartbeat). */
  flushUnreported(): Promise<void> {
    this.reporting = this.reporting.then(async () => {
      await this.sendKept();
    });
    return this.reporting;
  }

  /** Resolves once everything received so far is handled and reported. */
  async settled(): Promise<void> {
    await this.drained;
    await this.reporting;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const waiting = this.queue.splice(0);
        try {
          await this.handle(waiting);
        } catch (error) {
          this.options.log.error({ err: error, commands: waiting.length }, 'lock command handling failed');
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async handle(waiting: Buffer[]): Promise<void> {
    const { centralKey, site, workstation, lateMs, seen, clock, log } = this.options;
    const now = clock.now();
    // In the order received: a refusal as it is, an accepted command once the run has an outcome.
    const handled: Array<{ refused: Report } | { accepted: Accepted }> = [];
    const batch: Accepted[] = [];
    for (const payload of waiting) {
      const checked = checkLockCommand(payload, centralKey, { site, workstation }, now, { lateMs });
      if (!checked.ok) {
        log.warn({ reason: checked.reason, detail: checked.detail }, 'security: lock command rejected');
        handled.push({
          refused: {
            status: 'rejected',
            reason: `${checked.reason}: ${checked.detail}`.slice(0, 300),
            ...(checked.id ? { command: checked.id } : {}),
          },
        });
      } else if (seen.has(checked.command.id) || batch.some((a) => a.command.id === checked.command.id)) {
        log.warn({ command: checked.command.id }, 'security: lock command replayed');
        handled.push({ refused: { status: 'rejected', reason: 'replayed', command: checked.command.id } });
      } else {
        const accepted = { command: checked.command, late: checked.late };
        batch.push(accepted);
        handled.push({ accepted });
      }
    }
    const outcome: LockOutcome = batch.length > 0 ? await this.lockFor(batch, now) : { status: 'ok' };
    for (const entry of handled)
      this.report('refused' in entry ? entry.refused : reportFor(entry.accepted, batch, outcome));
  }

  /**
   * Remembers the batch, ends every user's login grace, then runs the lock program once for all
   * of it. Every user's, not only those the commands name: the lock locks every session, and
   * central counts its confirmation for every lock of this workstation owed before it, including
   * ones whose commands never arrived here (their users' grace must end too).
   */
  private async lockFor(batch: Accepted[], now: number): Promise<LockOutcome> {
    const { seen, stateDir, log } = this.options;
    seen.record(
      batch.map((a) => a.command),
      now,
    );
    try {
      endGrace(stateDir, 'all');
    } catch (error) {
      log.error({ err: error }, 'workstation agent: cannot end the login grace; locking all the same');
    }
    const outcome = await this.options.lock();
    log.info(
      {
        commands: batch.map((a) => a.command.id),
        late: batch.filter((a) => a.late).length,
        reasons: [...new Set(batch.map((a) => a.command.data.reason))],
        status: outcome.status,
      },
      'lock command handled',
    );
    return outcome;
  }

  /** Reports in the order handled, off the lock path: a slow central does not hold up the next lock. */
  private report(result: Report): void {
    const { central, log, onResult, unreported } = this.options;
    this.reporting = this.reporting
      .then(async () => {
        // Kept ones first: central hears the results in the order they happened.
        const waiting = await this.sendKept();
        const reply =
          waiting > 0
            ? { reached: false as const, detail: 'earlier results are still waiting for central' }
            : await central.post('/lock-result', result);
        const reported = reply.reached && reply.status === 200;
        if (!reported) {
          log.warn({ command: result.command, reply }, 'lock result not recorded by central');
          // Unreachable or failing: kept and sent again. Refused (4xx): it would be refused again.
          if (!reply.reached || retryable(reply.status)) unreported?.keep(result);
        }
        onResult?.({ ...result, reported });
      })
      .catch((error: Error) =>
        log.error({ err: error, command: result.command }, 'lock result not reported'),
      );
  }

  /** Sends the kept results; how many are still waiting (0 without a store). */
  private async sendKept(): Promise<number> {
    const { central, unreported } = this.options;
    if (!unreported) return 0;
    return unreported
      .flush((kept) => central.post('/lock-result', kept))
      .catch((error: Error) => {
        this.options.log.error({ err: error }, 'workstation agent: kept lock results not sent');
        return 1;
      });
  }
}

/** The report of one accepted command: the run's outcome, and why it was late or shared. */
function reportFor(entry: Accepted, batch: Accepted[], outcome: LockOutcome): Report {
  const { command } = entry;
  const notes: string[] = [];
  if (entry.late) notes.push(`late: issued ${command.issuedAt}, expired ${command.expiresAt}`);
  if (batch.length > 1)
    notes.push(`coalesced: one lock run for ${batch.length} commands, first ${batch[0]?.command.id}`);
  if (outcome.reason) notes.push(outcome.reason);
  const reason = notes.join('; ').slice(0, 300);
  return { command: command.id, status: outcome.status, ...(reason ? { reason } : {}) };
}
