import type { PresenceEnd } from '../../controllers/presence/presence-tracker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { ERASED_LOCK_USER } from '../../protocol/workstation-commands.js';
import type { WorkstationSession, WorkstationSessionStore } from '../storage/workstation-session-store.js';
import type { WorkstationRow } from '../storage/workstation-store.js';

/**
 * Lock on leave, the bookkeeping: every allowed login check is stored (workstation_sessions) before
 * its answer leaves, and every end of a presence claims the person's sessions and locks those
 * workstations. Any number of users per workstation (PAM asks before the password is checked, so
 * a name typed at the greeter counts too), any dashboard instance, across restarts: the instance
 * that removes a session sends its lock. One instance's work runs one step after the other, so an
 * allow being stored is never overtaken by the end of that presence.
 */
export interface SessionLocksOptions {
  store: WorkstationSessionStore;
  /** The registered workstation, as this instance knows it. */
  workstation(id: string): WorkstationRow | undefined;
  onLeave?: (workstation: WorkstationRow, person: string, reason: PresenceEnd) => void;
  clock: Clock;
  log: Logger;
}

/**
 * The name a lock carries for a person who was erased meanwhile (as in the audit log); the agent
 * ends every user's login grace for it.
 */
export const ERASED_USER = ERASED_LOCK_USER;

/**
 * Sessions allowed this recently are not reconciled: another instance may have answered them from
 * an entry this one has not applied yet. Their end reaches them as usual.
 */
export const RECONCILE_MARGIN_MS = 60_000;

export class SessionLocks {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: SessionLocksOptions) {}

  /** Stores an allow; resolves once stored, rejects when it could not be. */
  allowed(workstation: WorkstationRow, person: string): Promise<void> {
    const session = {
      workstation: workstation.id,
      site: workstation.site,
      person,
      allowedAt: this.options.clock.now(),
    };
    return this.serial(() => this.options.store.allowed(session));
  }

  /** The person's presence ended: every workstation that let them log in is locked. */
  left(person: string, reason: PresenceEnd): Promise<void> {
    return this.serial(async () => {
      for (const session of await this.options.store.claimPerson(person)) this.lock(session, person, reason);
    }).catch((error: Error) =>
      this.options.log.error(
        { err: error, reason },
        'security: presence ended, but the sessions to lock could not be read; the next reconciliation locks them',
      ),
    );
  }

  /**
   * Locks every session whose person is no longer present in its workstation's room (a presence
   * that ended while no instance ran, or before a restart) and every session of an erased person.
   * `reason` says why a person's presence ended, where known.
   */
  reconcile(
    present: (workstation: WorkstationRow, person: string) => boolean,
    reason: (person: string) => PresenceEnd,
  ): Promise<void> {
    return this.serial(async () => {
      const settled = this.options.clock.now() - RECONCILE_MARGIN_MS;
      for (const session of await this.options.store.list()) {
        const { person } = session;
        if (person === null) {
          // Erased: the badges are gone, as if revoked; the lock names nobody.
          if (await this.options.store.claim(session)) this.lock(session, ERASED_USER, 'badge-revoked');
          continue;
        }
        if (session.allowedAt > settled) continue;
        const workstation = this.options.workstation(session.workstation);
        if (workstation && present(workstation, person)) continue;
        if (await this.options.store.claim(session)) this.lock(session, person, reason(person));
      }
    });
  }

  /** Resolves when everything asked so far is done (tests, stop). */
  async idle(): Promise<void> {
    await this.tail;
  }

  private lock(session: WorkstationSession, user: string, reason: PresenceEnd): void {
    // Registered meanwhile on another instance and not read here yet: the lock needs only its address.
    const workstation = this.options.workstation(session.workstation) ?? {
      id: session.workstation,
      site: session.site,
      room: '',
      name: session.workstation,
      tokenHash: null,
    };
    this.options.log.info({ workstation: workstation.id, reason }, 'presence ended: locking the workstation');
    try {
      this.options.onLeave?.(workstation, user, reason);
    } catch (error) {
      this.options.log.error({ err: error, workstation: workstation.id }, 'lock on leave failed');
    }
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
