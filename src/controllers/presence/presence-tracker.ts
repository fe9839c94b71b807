import type { Clock, TimerHandle } from '../../lib/clock.js';

/**
 * Who is physically inside which room, and since when, as far as the doors can tell. A badge at
 * an entry reader means the person stands outside; a badge at an exit reader means they stand
 * inside. Presence begins with a granted entry and lasts for a lease (the shift length by
 * default) that every later badge event inside the room renews; it ends with a granted exit, a
 * badge seen outside, the lease running out, the badge being revoked, or a lockdown of the room.
 * Pure logic: time and the door → room map are ports; changes are reported to `onChange`.
 */
export interface PresenceSettings {
  /** Presence lapses this long after the last badge event that confirmed it. */
  leaseMs: number;
}

export interface RoomRef {
  site: string;
  room: string;
}

export interface Presence extends RoomRef {
  person: string;
  /** The badge the person entered with; revoking it ends the presence. */
  badge: string;
  /** Epoch ms of the entry. */
  since: number;
  /** Epoch ms at which the presence lapses unless renewed. */
  leaseUntil: number;
}

export type PresenceEnd = 'exit' | 'seen-outside' | 'moved' | 'lease-expired' | 'badge-revoked' | 'lockdown';

export type PresenceChange =
  | { kind: 'began'; presence: Presence }
  | { kind: 'renewed'; presence: Presence }
  | { kind: 'ended'; presence: Presence; reason: PresenceEnd; at: number };

export interface PresencePorts {
  clock: Clock;
  /** The room a door leads into; undefined when the door belongs to no known room. */
  roomOfDoor(site: string, door: string): string | undefined;
  onChange(change: PresenceChange): void;
}

/** An access decision at a door, as the gateway reported it. */
export interface BadgeEvent {
  site: string;
  door: string;
  direction: 'in' | 'out';
  granted: boolean;
  person?: string;
  badge: string;
  /** Epoch ms of the event at the door. */
  at: number;
}

export type PresenceVerdict =
  | { allow: true; presence: Presence }
  | { allow: false; reason: 'not-present' | 'other-room' | 'lease-expired' };

interface Tracked {
  presence: Presence;
  timer: TimerHandle;
}

export class PresenceTracker {
  private readonly present = new Map<string, Tracked>();
  /** person → the room whose lease ran out, until the next badge event of that person. */
  private readonly lapsed = new Map<string, Presence>();

  constructor(
    readonly settings: PresenceSettings,
    private readonly ports: PresencePorts,
  ) {
    if (!Number.isInteger(settings.leaseMs) || settings.leaseMs <= 0) {
      throw new RangeError(`presence lease must be a positive number of ms, got ${settings.leaseMs}`);
    }
  }

  /** Applies one badge event. Events older than the person's current presence are ignored. */
  badge(event: BadgeEvent): void {
    const { person } = event;
    if (!person) return;
    const room = this.ports.roomOfDoor(event.site, event.door);
    if (room === undefined) return;
    const current = this.present.get(person)?.presence;
    if (current && event.at < current.since) return;
    const here = current !== undefined && current.site === event.site && current.room === room;
    if (event.direction === 'in') {
      if (!event.granted) {
        // Badging at an entry reader means standing outside this room.
        if (here) this.end(person, 'seen-outside', event.at);
        return;
      }
      if (here) {
        this.renew(person, event.at);
        return;
      }
      if (current) this.end(person, 'moved', event.at);
      this.begin({ person, badge: event.badge, site: event.site, room, since: event.at }, event.at);
      return;
    }
    if (event.granted) {
      // A granted exit from any room means the person is no longer where we thought.
      if (current) this.end(person, here ? 'exit' : 'moved', event.at);
      this.lapsed.delete(person);
      return;
    }
    // A refused exit: still inside. That confirms a presence here but never starts one.
    if (here) this.renew(person, event.at);
  }

  /** A revoked badge ends the presence it opened. */
  badgeRevoked(badge: string): void {
    for (const [person, { presence }] of this.present) {
      if (presence.badge === badge) this.end(person, 'badge-revoked', this.ports.clock.now());
    }
  }

  /** A lockdown empties the room (or every room of the site when `room` is absent). */
  lockdown(site: string, room: string | undefined): void {
    const now = this.ports.clock.now();
    for (const [person, { presence }] of this.present) {
      if (presence.site === site && (room === undefined || presence.room === room))
        this.end(person, 'lockdown', now);
    }
  }

  /** Where the person is, if anywhere. */
  whereIs(person: string): Presence | undefined {
    return this.present.get(person)?.presence;
  }

  /** Everyone present in one room. */
  inRoom(site: string, room: string): Presence[] {
    return [...this.present.values()]
      .map((t) => t.presence)
      .filter((p) => p.site === site && p.room === room);
  }

  /** May this person use something that stands in this room right now? */
  check(person: string, place: RoomRef): PresenceVerdict {
    const presence = this.present.get(person)?.presence;
    if (presence) {
      if (presence.leaseUntil <= this.ports.clock.now()) {
        // The timer is due but has not fired yet: the answer must not depend on timer order.
        this.end(person, 'lease-expired', presence.leaseUntil);
        return { allow: false, reason: 'lease-expired' };
      }
      if (presence.site === place.site && presence.room === place.room) return { allow: true, presence };
      return { allow: false, reason: 'other-room' };
    }
    const lapsed = this.lapsed.get(person);
    if (lapsed && lapsed.site === place.site && lapsed.room === place.room)
      return { allow: false, reason: 'lease-expired' };
    return { allow: false, reason: 'not-present' };
  }

  /** Cancels every lease timer (the owner is stopping). */
  stop(): void {
    for (const { timer } of this.present.values()) timer.cancel();
    this.present.clear();
    this.lapsed.clear();
  }

  private begin(entry: Omit<Presence, 'leaseUntil'>, at: number): void {
    this.lapsed.delete(entry.person);
    const presence: Presence = { ...entry, leaseUntil: at + this.settings.leaseMs };
    this.present.set(entry.person, { presence, timer: this.leaseTimer(presence) });
    this.ports.onChange({ kind: 'began', presence });
  }

  private renew(person: string, at: number): void {
    const tracked = this.present.get(person);
    if (!tracked) return;
    tracked.timer.cancel();
    const presence: Presence = {
      ...tracked.presence,
      leaseUntil: Math.max(tracked.presence.leaseUntil, at + this.settings.leaseMs),
    };
    this.present.set(person, { presence, timer: this.leaseTimer(presence) });
    this.ports.onChange({ kind: 'renewed', presence });
  }

  private leaseTimer(presence: Presence): TimerHandle {
    const delay = presence.leaseUntil - this.ports.clock.now();
    return this.ports.clock.setTimeout(
      () => this.end(presence.person, 'lease-expired', presence.leaseUntil),
      Math.max(0, delay),
    );
  }

  private end(person: string, reason: PresenceEnd, at: number): void {
    const tracked = this.present.get(person);
    if (!tracked) return;
    tracked.timer.cancel();
    this.present.delete(person);
    if (reason === 'lease-expired') this.lapsed.set(person, tracked.presence);
    else this.lapsed.delete(person);
    this.ports.onChange({ kind: 'ended', presence: tracked.presence, reason, at });
  }
}
