import { timingSafeEqual } from 'node:crypto';
import type { WorkstationsConfig } from '../../config/workstation-config.js';
import { isCompliant } from '../../controllers/compliance.js';
import {
  type PresenceChange,
  type PresenceEnd,
  PresenceTracker,
} from '../../controllers/presence/presence-tracker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { LiveSubscriber } from '../live-hub.js';
import {
  MemoryWorkstationSessionStore,
  type WorkstationSessionStore,
} from '../storage/workstation-session-store.js';
import {
  hashWorkstationToken,
  type PersonFacts,
  type WorkstationRow,
  type WorkstationStore,
} from '../storage/workstation-store.js';
import { applyPresenceEvent, type PresenceEventInput } from './presence-events.js';
import { ERASED_USER, SessionLocks } from './session-locks.js';
import type { WorkstationRefusal } from './workstation-refusals.js';

export type { PresenceEventInput } from './presence-events.js';

/**
 * The dashboard's presence state, in memory: fed from the ingest (every stored event, also those
 * other dashboard instances stored; see ClusterEvents), rebuilt at start from the events of the
 * last lease, with the directory (workstations, door rooms, people, revoked badges) re-read
 * periodically. Login checks are answered from it without reading the database; an allow is
 * stored (SessionLocks) before it is answered, so that when the person's presence ends `onLeave`
 * is told, on whichever instance, also after a restart.
 */
export type LoginDenial =
  | 'not-present'
  | 'other-room'
  | 'lease-expired'
  | 'compliance-lapsed'
  | 'unknown-workstation'
  | 'unknown-user'
  | 'presence-unknown';

export type LoginVerdict = { allow: true } | { allow: false; reason: LoginDenial };

/**
 * What the monitoring page shows per workstation: who is in its room, and the last login check.
 * A check for a name that is nobody's shows no name: it may have been a password typed as one.
 */
export interface WorkstationView {
  id: string;
  site: string;
  room: string;
  name: string;
  present: Array<{ person: string; since: string; leaseUntil: string }>;
  lastCheck?: { user?: string; allow: boolean; reason?: LoginDenial; at: string };
}

export interface PresenceServiceOptions {
  store: WorkstationStore;
  /** Where allowed logins are kept for lock on leave; in memory (this process only) when absent. */
  sessions?: WorkstationSessionStore;
  /** Every stored event, whichever dashboard instance stored it (ClusterEvents). */
  hub: { subscribe(subscriber: LiveSubscriber): () => void };
  clock: Clock;
  log: Logger;
  settings: WorkstationsConfig;
  onLeave?: (workstation: WorkstationRow, person: string, reason: PresenceEnd) => void;
  /**
   * Whether every stored event reaches this service now, including those other dashboard
   * instances store (ClusterEvents.hearing). While not, a badge-out stored elsewhere may be
   * missing here, and login checks are denied (`presence-unknown`): fail closed.
   */
  hearsEveryInstance?: () => boolean;
}

export class PresenceService {
  readonly tracker: PresenceTracker;
  private workstations = new Map<string, WorkstationRow>();
  private doorRooms = new Map<string, string>();
  private people = new Map<string, PersonFacts>();
  private revoked = new Set<string>();
  private readonly sessions: SessionLocks;
  /** person → why their presence last ended, for the locks a reconciliation sends. */
  private readonly lastEnds = new Map<string, PresenceEnd>();
  private readonly lastChecks = new Map<string, NonNullable<WorkstationView['lastCheck']>>();
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  /** Until start() has replayed the history: ends found then are settled by one reconciliation. */
  private replaying = true;
  private unsubscribe: (() => void) | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  /** Refreshes, one after the other: an older read must not replace a newer one. */
  private refreshes: Promise<void> = Promise.resolve();

  constructor(private readonly options: PresenceServiceOptions) {
    this.tracker = new PresenceTracker(
      { leaseMs: Math.round(options.settings.leaseHours * 3_600_000) },
      {
        clock: options.clock,
        roomOfDoor: (site, door) => this.doorRooms.get(`${site}/${door}`),
        isRevoked: (badge) => this.revoked.has(badge),
        onChange: (change) => this.changed(change),
      },
    );
    this.sessions = new SessionLocks({
      store: options.sessions ?? new MemoryWorkstationSessionStore(),
      workstation: (id) => this.workstations.get(id),
      ...(options.onLeave ? { onLeave: options.onLeave } : {}),
      clock: options.clock,
      log: options.log,
    });
  }

  async start(): Promise<void> {
    // Subscribe first and buffer, so nothing stored while the history is read is lost.
    const buffered: PresenceEventInput[][] = [];
    this.replaying = true;
    this.unsubscribe = this.options.hub.subscribe({
      push: (events) => {
        if (this.replaying) buffered.push([...events]);
        else this.apply(events);
        return true;
      },
      close: () => undefined,
    });
    // The revoked badges first: a replayed entry with one of them opens no presence.
    await this.refresh();
    const since = this.options.clock.now() - this.tracker.settings.leaseMs;
    this.apply(await this.options.store.presenceEventsSince(since));
    for (const batch of buffered) this.apply(batch);
    this.replaying = false;
    // Whoever left while no dashboard ran, or before this restart, is locked now.
    await this.reconcile();
    this.refreshTimer = setInterval(() => {
      this.refresh().catch((error: Error) =>
        this.options.log.warn({ err: error }, 'presence directory refresh failed; keeping the last one'),
      );
    }, this.options.settings.refreshSeconds * 1000);
    this.refreshTimer.unref();
  }

  stop(): void {
    clearInterval(this.refreshTimer);
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.tracker.stop();
  }

  /**
   * Re-reads the directory: a presence opened by a revoked badge ends, and so does the presence
   * of anyone no longer in it (erased), whose name the page then no longer shows. Then sessions
   * whose person is gone are locked. Refreshes run one after the other (a registration's own
   * refresh, the notice of it, the timer): each reads after the one before has applied, so a
   * slower, older read never replaces a newer directory.
   */
  refresh(): Promise<void> {
    const run = this.refreshes.then(() => this.refreshOnce());
    this.refreshes = run.catch(() => undefined);
    return run;
  }

  private async refreshOnce(): Promise<void> {
    const directory = await this.options.store.directory();
    this.workstations = new Map(directory.workstations.map((w) => [w.id, w]));
    this.doorRooms = new Map(directory.doors.map((d) => [`${d.site}/${d.id}`, d.room]));
    this.people = new Map(directory.people.map((p) => [p.id, p]));
    this.revoked = new Set(directory.revokedBadges);
    this.tracker.endRevoked();
    const known = (person: string) => this.people.has(person);
    this.tracker.forgetUnknown(known);
    for (const person of [...this.lastEnds.keys()]) if (!known(person)) this.lastEnds.delete(person);
    for (const check of this.lastChecks.values())
      if (check.user !== undefined && !known(check.user)) check.user = ERASED_USER;
    this.tracker.prune(this.options.clock.now() - this.tracker.settings.leaseMs);
    if (!this.replaying) await this.reconcile();
  }

  /**
   * Refreshes on a notice (a registration, an erasure elsewhere): at most one at a time and one
   * more after it, however many notices come meanwhile (any database role can send one).
   */
  refreshSoon(why: string): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await this.refresh().catch((error: Error) =>
          this.options.log.warn(
            { err: error, why },
            'presence directory refresh failed; keeping the last one',
          ),
        );
      } while (this.refreshAgain);
      this.refreshing = undefined;
    })();
  }

  /** Applies stored events in order (the ingest's batches, or the history at start). */
  apply(events: readonly PresenceEventInput[]): void {
    for (const event of events) applyPresenceEvent(this.tracker, event);
  }

  /** Whether the workstation presents its own current token. Constant time in the token. */
  authenticate(workstationId: string, token: string): boolean {
    const stored = this.workstations.get(workstationId)?.tokenHash;
    const presented = hashWorkstationToken(token);
    if (!stored) {
      timingSafeEqual(presented, presented);
      return false;
    }
    return timingSafeEqual(stored, presented);
  }

  /**
   * Why a workstation credential was refused, for the audit log: among others, whose token it is
   * when it is another workstation's (a leaked or misplaced token). Never the token itself.
   */
  refusal(workstationId: unknown, token: string): Pick<WorkstationRefusal, 'reason' | 'tokenOf'> {
    if (!token) return { reason: 'no-token' };
    const presented = hashWorkstationToken(token);
    let owner: string | undefined;
    for (const w of this.workstations.values())
      if (w.tokenHash && timingSafeEqual(w.tokenHash, presented)) owner = w.id;
    const known = typeof workstationId === 'string' && this.workstations.has(workstationId);
    const tokenOf = owner !== undefined && owner !== workstationId ? { tokenOf: owner } : {};
    if (!known) return { reason: 'unknown-workstation', ...tokenOf };
    return owner === undefined
      ? { reason: 'wrong-token' }
      : { reason: 'other-workstation-token', ...tokenOf };
  }

  workstation(id: string): WorkstationRow | undefined {
    return this.workstations.get(id);
  }

  /** Every workstation with the people present in its room and its last login check. */
  view(): WorkstationView[] {
    return [...this.workstations.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((w) => {
        const last = this.lastChecks.get(w.id);
        return {
          id: w.id,
          site: w.site,
          room: w.room,
          name: w.name,
          present: this.tracker.inRoom(w.site, w.room).map((p) => ({
            person: p.person,
            since: new Date(p.since).toISOString(),
            leaseUntil: new Date(p.leaseUntil).toISOString(),
          })),
          ...(last ? { lastCheck: { ...last } } : {}),
        };
      });
  }

  /** Tells `listener` of every presence change (began, renewed, ended); returns the unsubscribe. */
  listen(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * May `user` (a person id) log into this workstation now? The answer for the login check: an
   * allow is stored for lock on leave before it is given, and one that cannot be stored is denied
   * as `presence-unknown` (the workstation then treats central as unreachable).
   */
  async answer(workstationId: string, user: string): Promise<LoginVerdict> {
    const { verdict, stored } = this.checked(workstationId, user);
    if (!stored) return verdict;
    try {
      await stored;
      return verdict;
    } catch (error) {
      this.options.log.error(
        { err: error, workstation: workstationId },
        'security: login denied: the allow could not be stored for lock on leave',
      );
      const denied: LoginVerdict = { allow: false, reason: 'presence-unknown' };
      this.note(workstationId, user, denied);
      return denied;
    }
  }

  /** The same decision without waiting for the allow to be stored (see `idle()`). */
  check(workstationId: string, user: string): LoginVerdict {
    const { verdict, stored } = this.checked(workstationId, user);
    stored?.catch(() => undefined);
    return verdict;
  }

  /** Resolves when the allows stored and the locks claimed so far are done. */
  idle(): Promise<void> {
    return this.sessions.idle();
  }

  private checked(workstationId: string, user: string): { verdict: LoginVerdict; stored?: Promise<void> } {
    const verdict = this.decide(workstationId, user);
    this.note(workstationId, user, verdict);
    const workstation = this.workstations.get(workstationId);
    if (!verdict.allow || !workstation) return { verdict };
    return { verdict, stored: this.sessions.allowed(workstation, user) };
  }

  private note(workstationId: string, user: string, verdict: LoginVerdict): void {
    if (!this.workstations.has(workstationId)) return;
    this.lastChecks.set(workstationId, {
      // A name that is nobody's may be a password typed into the user field: not kept.
      ...(verdict.allow || verdict.reason !== 'unknown-user' ? { user } : {}),
      allow: verdict.allow,
      ...(verdict.allow ? {} : { reason: verdict.reason }),
      at: new Date(this.options.clock.now()).toISOString(),
    });
  }

  private decide(workstationId: string, user: string): LoginVerdict {
    const workstation = this.workstations.get(workstationId);
    if (!workstation) return { allow: false, reason: 'unknown-workstation' };
    const person = this.people.get(user);
    if (!person) return { allow: false, reason: 'unknown-user' };
    if (!this.hearsEveryInstance()) {
      this.options.log.warn(
        { workstation: workstationId },
        "security: login denied: presence may lack other dashboard instances' events until this instance hears them again",
      );
      return { allow: false, reason: 'presence-unknown' };
    }
    const verdict = this.tracker.check(user, workstation);
    if (!verdict.allow) return verdict;
    const { backgroundCheckMaxDays, trainingMaxDays } = this.options.settings;
    const compliance = {
      warnDays: 0,
      ...(backgroundCheckMaxDays !== undefined ? { backgroundCheckMaxDays } : {}),
      ...(trainingMaxDays !== undefined ? { trainingMaxDays } : {}),
    };
    if (!isCompliant(person, compliance, this.options.clock.now()))
      return { allow: false, reason: 'compliance-lapsed' };
    return { allow: true };
  }

  private hearsEveryInstance(): boolean {
    return this.options.hearsEveryInstance?.() ?? true;
  }

  /**
   * Locks the sessions of people no longer present in their workstation's room. Not while this
   * instance may lack other instances' events: it could take a present person for gone.
   */
  private async reconcile(): Promise<void> {
    if (!this.hearsEveryInstance()) return;
    await this.sessions.reconcile(
      (workstation, person) => {
        const presence = this.tracker.whereIs(person);
        return (
          presence !== undefined &&
          presence.site === workstation.site &&
          presence.room === workstation.room &&
          presence.leaseUntil > this.options.clock.now()
        );
      },
      (person) => this.lastEnds.get(person) ?? 'lease-expired',
    );
  }

  private changed(change: PresenceChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.options.log.error({ err: error }, 'presence listener failed');
      }
    }
    if (change.kind !== 'ended') return;
    const { person } = change.presence;
    this.lastEnds.set(person, change.reason);
    if (!this.replaying) void this.sessions.left(person, change.reason);
  }
}
