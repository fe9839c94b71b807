import { timingSafeEqual } from 'node:crypto';
import type { WorkstationsConfig } from '../../config/workstation-config.js';
import { isCompliant } from '../../controllers/compliance.js';
import {
  type BadgeEvent,
  type PresenceChange,
  type PresenceEnd,
  PresenceTracker,
} from '../../controllers/presence/presence-tracker.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { LiveSubscriber } from '../live-hub.js';
import {
  hashWorkstationToken,
  type PersonFacts,
  type WorkstationRow,
  type WorkstationStore,
} from '../storage/workstation-store.js';

/**
 * The dashboard's presence state, in memory: fed from the ingest (every stored event, also those
 * other dashboard instances stored; see ClusterEvents), rebuilt at start from the events of the last lease, with the directory (workstations,
 * door rooms, people, revoked badges) re-read periodically. Login checks are answered from it
 * without touching the database. When a person's presence ends while a workstation let them log
 * in, `onLeave` is told so that workstation can be locked.
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

/** What the monitoring page shows per workstation: who is in its room, and the last login check. */
export interface WorkstationView {
  id: string;
  site: string;
  room: string;
  name: string;
  present: Array<{ person: string; since: string; leaseUntil: string }>;
  lastCheck?: { user: string; allow: boolean; reason?: LoginDenial; at: string };
}

export interface PresenceServiceOptions {
  store: WorkstationStore;
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

/** The parts of a stored event presence reads. */
export interface PresenceEventInput {
  kind: string;
  site: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

export class PresenceService {
  readonly tracker: PresenceTracker;
  private workstations = new Map<string, WorkstationRow>();
  private doorRooms = new Map<string, string>();
  private people = new Map<string, PersonFacts>();
  private revoked = new Set<string>();
  /** workstation id → the person it last let log in, for lock on leave. */
  private readonly sessions = new Map<string, string>();
  private readonly lastChecks = new Map<string, NonNullable<WorkstationView['lastCheck']>>();
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  private unsubscribe: (() => void) | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PresenceServiceOptions) {
    this.tracker = new PresenceTracker(
      { leaseMs: Math.round(options.settings.leaseHours * 3_600_000) },
      {
        clock: options.clock,
        roomOfDoor: (site, door) => this.doorRooms.get(`${site}/${door}`),
        onChange: (change) => this.changed(change),
      },
    );
  }

  async start(): Promise<void> {
    // Subscribe first and buffer, so nothing stored while the history is read is lost.
    const buffered: PresenceEventInput[][] = [];
    let replaying = true;
    this.unsubscribe = this.options.hub.subscribe({
      push: (events) => {
        if (replaying) buffered.push([...events]);
        else this.apply(events);
        return true;
      },
      close: () => undefined,
    });
    await this.refresh();
    const since = this.options.clock.now() - this.tracker.settings.leaseMs;
    this.apply(await this.options.store.presenceEventsSince(since));
    for (const batch of buffered) this.apply(batch);
    replaying = false;
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

  /** Re-reads the directory; a newly revoked badge ends the presence it opened. */
  async refresh(): Promise<void> {
    const directory = await this.options.store.directory();
    this.workstations = new Map(directory.workstations.map((w) => [w.id, w]));
    this.doorRooms = new Map(directory.doors.map((d) => [`${d.site}/${d.id}`, d.room]));
    this.people = new Map(directory.people.map((p) => [p.id, p]));
    const revoked = new Set(directory.revokedBadges);
    for (const badge of revoked) if (!this.revoked.has(badge)) this.tracker.badgeRevoked(badge);
    this.revoked = revoked;
  }

  /** Applies stored events in order (the ingest's batches, or the history at start). */
  apply(events: readonly PresenceEventInput[]): void {
    for (const event of events) {
      const at = Date.parse(event.occurredAt);
      const data = event.data;
      if (event.kind === 'access.granted' || event.kind === 'access.denied') {
        const badge: BadgeEvent = {
          site: event.site,
          door: String(data.door),
          direction: data.direction === 'out' ? 'out' : 'in',
          granted: event.kind === 'access.granted',
          badge: String(data.badge),
          at,
          ...(typeof data.person === 'string' ? { person: data.person } : {}),
        };
        if (event.kind === 'access.denied' && data.reason === 'badge-revoked')
          this.tracker.badgeRevoked(badge.badge);
        else this.tracker.badge(badge);
      } else if (event.kind === 'lockdown.changed' && data.active === true) {
        this.tracker.lockdown(event.site, typeof data.room === 'string' ? data.room : undefined);
      }
    }
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
          ...(last ? { lastCheck: last } : {}),
        };
      });
  }

  /** Tells `listener` of every presence change (began, renewed, ended); returns the unsubscribe. */
  listen(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** May `user` (a person id) log into this workstation now? An allow is remembered for lock on leave. */
  check(workstationId: string, user: string): LoginVerdict {
    const verdict = this.decide(workstationId, user);
    if (this.workstations.has(workstationId)) {
      this.lastChecks.set(workstationId, {
        user,
        allow: verdict.allow,
        ...(verdict.allow ? {} : { reason: verdict.reason }),
        at: new Date(this.options.clock.now()).toISOString(),
      });
    }
    return verdict;
  }

  private decide(workstationId: string, user: string): LoginVerdict {
    const workstation = this.workstations.get(workstationId);
    if (!workstation) return { allow: false, reason: 'unknown-workstation' };
    const person = this.people.get(user);
    if (!person) return { allow: false, reason: 'unknown-user' };
    if (this.options.hearsEveryInstance && !this.options.hearsEveryInstance()) {
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
    this.sessions.set(workstationId, user);
    return { allow: true };
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
    for (const [workstationId, user] of this.sessions) {
      if (user !== person) continue;
      this.sessions.delete(workstationId);
      const workstation = this.workstations.get(workstationId);
      if (!workstation) continue;
      this.options.log.info(
        { workstation: workstationId, reason: change.reason },
        'presence ended: locking the workstation',
      );
      try {
        this.options.onLeave?.(workstation, person, change.reason);
      } catch (error) {
        this.options.log.error({ err: error, workstation: workstationId }, 'lock on leave failed');
      }
    }
  }
}
