import type { KeyObject } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { WorkstationsConfig } from '../../config/workstation-config.js';
import type { PresenceEnd } from '../../controllers/presence/presence-tracker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { Uuidv7Generator } from '../../protocol/uuidv7.js';
import { signLockCommand, workstationCommandTopic } from '../../protocol/workstation-commands.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import type { OwedLock, PgOwedLockStore, ResendPolicy } from '../storage/owed-lock-store.js';
import type { WorkstationRow } from '../storage/workstation-store.js';
import { workstationAlarmKey } from './alarm-keys.js';
import { ERASED_USER } from './session-locks.js';

/**
 * Lock on leave, the central half: a signed `session.lock` to the workstation's command topic,
 * audited whether or not it could be sent. The lock stays owed (`workstation_locks`) until the
 * workstation's agent reports `ok` through the API (`lock-result`, audited too); until then it is
 * sent again with a new command, the wait doubling, and after `lockAttempts` unanswered sends, or
 * a `failed` report, a critical `workstation-lock-failed` alarm is open for the workstation until
 * a lock there is confirmed. A lock owed `lockRetryHours` is given up, audited, its alarm left open.
 */
export interface WorkstationLockerOptions {
  messenger: () => CentralMessenger;
  signingKey: KeyObject | undefined;
  audit: AuditLog;
  /** Owed locks; without them (unit tests) a lock is sent once. */
  owed?: PgOwedLockStore;
  alarms?: Pick<AlarmStore, 'raiseCentral' | 'raiseCentralUnlessOpen' | 'clearCentralAnySite'>;
  alarmsChanged?: (changed: AlarmView[]) => void;
  settings?: Pick<WorkstationsConfig, 'lockResultSeconds' | 'lockAttempts' | 'lockRetryHours'>;
  clock: Clock;
  log: Logger;
}

/** A lock command's validity: short, so that a captured one is soon worthless. */
export const LOCK_VALIDITY_MS = 60_000;
const MAX_WAIT_MS = 15 * 60_000;

export const lockAlarmKey = (workstation: string) =>
  workstationAlarmKey('workstation-lock-failed', workstation);

export class WorkstationLocker {
  private readonly ids: Uuidv7Generator;
  private timer: NodeJS.Timeout | undefined;
  /** Runs of resendDue, one after the other; the timer adds none while one waits. */
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(private readonly options: WorkstationLockerOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
  }

  /** Locks the workstation for `user` leaving; resolves with the command id when it was sent. */
  async lock(workstation: WorkstationRow, user: string, reason: PresenceEnd): Promise<string | undefined> {
    const id = this.ids.next();
    const at = this.options.clock.now();
    const { owed, audit, log } = this.options;
    let named = user;
    try {
      const person = user === ERASED_USER ? null : user;
      const recorded = owed
        ? await owed.owe({ id, workstation: workstation.id, person, reason, at })
        : undefined;
      if (owed && !recorded) {
        const shutDownAt = await owed.shutDownAt(workstation.id);
        if (shutDownAt === undefined) throw new Error('the workstation is not registered in the database');
        // Shut down (its agent said so, and nobody logged in there since): the sessions ended
        // with it, and a lock delivered at its next start would lock whoever logs in then.
        await audit.record({
          actor: 'system',
          action: 'workstation.lock-not-needed',
          target: `workstation:${workstation.id}`,
          details: { user, reason, shutDownAt: new Date(shutDownAt).toISOString() },
        });
        return undefined;
      }
      // Erased meanwhile: the lock, and its audit entry, name nobody.
      if (recorded) named = recorded.person ?? ERASED_USER;
    } catch (error) {
      // Sent all the same: the lock is not repeated when it goes unanswered.
      log.error(
        { err: error, workstation: workstation.id },
        'security: the lock could not be recorded as owed; it is sent once',
      );
    }
    return this.send({ id, workstation: workstation.id, site: workstation.site }, named, reason, 1);
  }

  /** What the workstation's agent reported for a command (the lock-result route, after its audit). */
  async result(workstation: string, command: string | undefined, status: string): Promise<void> {
    const { owed, log } = this.options;
    if (!owed || !command) return;
    if (status === 'ok') {
      await this.changeAndSync(workstation, (db) => owed.settle(workstation, command, db));
    } else if (status === 'failed') {
      // The lock program ran and failed: the sessions are open although the person left.
      const lock = await owed.find(workstation, command);
      if (lock) await this.alarm(lock, `the lock program failed on workstation ${workstation}`);
      else log.warn({ workstation, command }, 'a failed lock was reported for a lock no longer owed');
    }
  }

  /**
   * The workstation shuts down (its agent said so): noted, what it owes settled and audited, and
   * its alarm brought in line, all in one transaction.
   */
  async shutDown(workstation: string): Promise<void> {
    const { owed, audit } = this.options;
    if (!owed) return;
    await this.changeAndSync(workstation, async (db) => {
      const settled = await owed.shutDown(workstation, db);
      await audit.record(
        {
          actor: `workstation:${workstation}`,
          action: 'workstation.agent-shutdown',
          target: `workstation:${workstation}`,
          details: { settledLocks: settled },
        },
        db,
      );
    });
  }

  /**
   * Sends due locks again, raises alarms for those unanswered too often, gives up the oldest.
   * Resolves after every run asked for before it; rejects with this run's failure.
   */
  resendDue(): Promise<void> {
    this.pending += 1;
    const run = this.tail
      .then(() => this.resendOnce())
      .finally(() => {
        this.pending -= 1;
      });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async resendOnce(): Promise<void> {
    const { owed, settings, clock } = this.options;
    if (!owed || !settings) return;
    const policy: ResendPolicy = {
      firstWaitMs: settings.lockResultSeconds * 1000,
      maxWaitMs: MAX_WAIT_MS,
      giveUpMs: settings.lockRetryHours * 3_600_000,
    };
    // Each lock on its own: one that fails (its audit, its alarm) holds up none of the others.
    for (const lock of await owed.overdue(clock.now(), policy))
      await this.abandon(lock).catch((error: Error) => this.failedFor(lock, error, 'not given up'));
    for (const lock of await owed.claimDue(clock.now(), policy, () => this.ids.next())) {
      // Claimed means counted as sent: send first, then the alarm.
      await this.send(lock, lock.person ?? ERASED_USER, lock.reason, lock.attempts, lock.command).catch(
        (error: Error) => this.failedFor(lock, error, 'not sent again'),
      );
      // Also when it is marked already: an alarm whose raising failed is raised now.
      if (lock.attempts > settings.lockAttempts) {
        await this.alarm(
          lock,
          `workstation ${lock.workstation} did not confirm its lock (${lock.reason}) after ${lock.attempts - 1} sends`,
        ).catch((error: Error) => this.failedFor(lock, error, 'alarm not raised'));
      }
    }
  }

  private failedFor(lock: OwedLock, error: Error, what: string): void {
    this.options.log.error(
      { err: error, workstation: lock.workstation, lock: lock.id },
      `owed workstation lock: ${what}; the next run tries again`,
    );
  }

  /** The locks owed now (the API's view, tests). */
  owedLocks(): Promise<OwedLock[]> {
    return this.options.owed?.list() ?? Promise.resolve([]);
  }

  /** Resends on a timer until stop(); each run after the one before has finished. */
  start(intervalMs = 5_000): void {
    if (this.timer || !this.options.owed) return;
    this.timer = setInterval(() => {
      if (this.pending > 0) return;
      this.resendDue().catch((error: Error) =>
        this.options.log.error({ err: error }, 'owed workstation locks not sent again; the next run retries'),
      );
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.tail;
  }

  private async send(
    target: { id: string; workstation: string; site: string },
    user: string,
    reason: PresenceEnd,
    attempt: number,
    commandId = target.id,
  ): Promise<string | undefined> {
    const { audit, log, signingKey } = this.options;
    let failure: string | undefined;
    try {
      if (!signingKey) throw new Error('no central signing key (keys.signing): lock commands are off');
      const command = signLockCommand(
        { site: target.site, workstation: target.workstation },
        { user, reason },
        commandId,
        this.options.clock.now(),
        LOCK_VALIDITY_MS,
        signingKey,
      );
      await this.options
        .messenger()
        .publishSigned(workstationCommandTopic(target.site, target.workstation), JSON.stringify(command));
    } catch (error) {
      failure = (error as Error).message;
      log.error({ err: error, workstation: target.workstation, attempt }, 'lock command could not be sent');
    }
    await audit.record({
      actor: 'system',
      action: failure ? 'workstation.lock-failed' : 'workstation.lock-sent',
      target: `workstation:${target.workstation}`,
      details: {
        user,
        reason,
        command: commandId,
        ...(attempt > 1 ? { attempt, lock: target.id } : {}),
        ...(failure ? { error: failure } : {}),
      },
    });
    return failure ? undefined : commandId;
  }

  /** Marks the lock alarmed, if it is still owed, and brings the workstation's alarm in line. */
  private async alarm(lock: OwedLock, detail: string): Promise<void> {
    const { owed } = this.options;
    if (!owed) return;
    await this.changeAndSync(lock.workstation, (db) => owed.markAlarmed(lock.id, db), detail);
  }

  /**
   * Makes a change to the workstation's owed locks and decides its `workstation-lock-failed`
   * alarm in one transaction holding the workstation's row: the alarm is open exactly while one of
   * its owed locks is marked alarmed, and a failure anywhere leaves both as they were (the next
   * send, result or run decides again).
   */
  private async changeAndSync(
    workstation: string,
    change: (db: PoolClient) => Promise<unknown>,
    detail?: string,
  ): Promise<void> {
    const { owed, alarms } = this.options;
    if (!owed) return;
    const changed = await owed.underWorkstation(workstation, async (db, site) => {
      await change(db);
      if (!alarms) return [];
      const alarmed = await owed.alarmedCount(workstation, db);
      return alarmed > 0
        ? alarms.raiseCentralUnlessOpen(
            {
              alarm: 'workstation-lock-failed',
              key: lockAlarmKey(workstation),
              severity: 'critical',
              site,
              detail: (detail ?? `workstation ${workstation}: ${alarmed} locks not confirmed`).slice(0, 500),
            },
            db,
          )
        : alarms.clearCentralAnySite(lockAlarmKey(workstation), db);
    });
    if (changed && changed.length > 0) this.options.alarmsChanged?.(changed);
  }

  /**
   * A lock given up: removed, audited and made an incident of its own in one transaction (staff
   * resolve it once they have locked the workstation by hand; the owed lock is gone, so the
   * failed alarm above no longer covers it).
   */
  private async abandon(lock: OwedLock): Promise<void> {
    const { owed, alarms, audit } = this.options;
    if (!owed) return;
    let raised: AlarmView[] = [];
    await this.changeAndSync(lock.workstation, async (db) => {
      if (!(await owed.giveUp(lock.id, db))) return;
      await audit.record(
        {
          actor: 'system',
          action: 'workstation.lock-abandoned',
          target: `workstation:${lock.workstation}`,
          details: {
            user: lock.person ?? ERASED_USER,
            reason: lock.reason,
            attempts: lock.attempts,
            lock: lock.id,
          },
        },
        db,
      );
      if (!alarms) return;
      raised = await alarms.raiseCentral(
        {
          alarm: 'workstation-lock-abandoned',
          key: `workstation-lock-abandoned:${lock.id}`,
          severity: 'critical',
          site: lock.site,
          detail:
            `the lock (${lock.reason}) owed on workstation ${lock.workstation} since ${new Date(lock.owedSince).toISOString()} was given up after ${lock.attempts} sends without a confirmation: lock it by hand`.slice(
              0,
              500,
            ),
        },
        db,
      );
    });
    if (raised.length > 0) this.options.alarmsChanged?.(raised);
  }
}
