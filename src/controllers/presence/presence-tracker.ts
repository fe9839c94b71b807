import type { Clock, TimerHandle } from '../../lib/clock.js';
import { type EventMark, happenedAfter, happenedBefore } from './event-order.js';

/**
 * Who is physically inside which room, and since when, as far as the doors can tell. A badge at
 * an entry reader means the person stands outside; a badge at an exit reader means they stand
 * inside. Presence begins with a granted entry and lasts for a lease (the shift length by
 * default) that every later badge event inside the room renews; it ends with a granted exit, a
 * badge seen outside or in another room, the lease running out, the badge being revoked, or a
 * lockdown or evacuation. When in doubt the person is not present: events come late (a gateway's
 * outbox) and gateway clocks step, so an entry older than the person's last leaving opens nothing,
 * and a leaving ends the presence unless one gateway's sequence numbers show it came before it.
 * Pure logic: time, the door → room map and revoked badges are ports; changes go to `onChange`.
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

export type PresenceEnd =
  | 'exit'
  | 'seen-outside'
  | 'moved'
  | 'lease-expired'
  | 'badge-revoked'
  | 'lockdown'
  | 'evacuation';

export type PresenceChange =
  | { kind: 'began'; presence: Presence }
  | { kind: 'renewed'; presence: Presence }
  | { kind: 'ended'; presence: Presence; reason: PresenceEnd; at: number };

export interface PresencePorts {
  clock: Clock;
  /** The room a door leads into; undefined when the door belongs to no known room. */
  roomOfDoor(site: string, door: string): string | undefined;
  /** Whether the badge is revoked centrally (a gateway may not know yet). */
  isRevoked?(badge: string): boolean;
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
  /** Epoch ms of the event at the door (the gateway's clock). */
  at: number;
  /** The reporting gateway and its sequence number: the one order that does not depend on clocks. */
  gateway?: string;
  seq?: number;
}

export type PresenceVerdict =
  | { allow: true; presence: Presence }
  | { allow: false; reason: 'not-present' | 'other-room' | 'lease-expired' };

interface Tracked {
  presence: Presence;
  /** The entry that began it. */
  entry: EventMark;
  timer: TimerHandle;
}

/** The person's latest badge event that showed them out of a room (or inside `inside` only). */
interface LastOut {
  mark: EventMark;
  inside?: RoomRef;
}

const sameRoom = (a: RoomRef, b: RoomRef) => a.site === b.site && a.room === b.room;

export class PresenceTracker {
  private readonly present = new Map<string, Tracked>();
  /** person → the room whose lease ran out, until the next badge event of that person. */
  private readonly lapsed = new Map<string, Presence>();
  private readonly lastOut = new Map<string, LastOut>();
  /** site → the gateways whose evacuation is in force there. */
  private readonly evacuating = new Map<string, Set<string>>();

  constructor(
    readonly settings: PresenceSettings,
    private readonly ports: PresencePorts,
  ) {
    if (!Number.isInteger(settings.leaseMs) || settings.leaseMs <= 0) {
      throw new RangeError(`presence lease must be a positive number of ms, got ${settings.leaseMs}`);
    }
  }

  /** Applies one badge event. */
  badge(event: BadgeEvent): void {
    const { person } = event;
    if (!person) return;
    const room = this.ports.roomOfDoor(event.site, event.door);
    if (room === undefined) return;
    const place = { site: event.site, room };
    // Gateway ids are unique within a site only.
    const gateway = event.gateway === undefined ? undefined : `${event.site}/${event.gateway}`;
    const mark: EventMark = { at: event.at, gateway, seq: event.seq };
    if (event.direction === 'in' && event.granted) {
      this.entered(person, event.badge, place, mark);
      return;
    }
    const tracked = this.present.get(person);
    const here = tracked !== undefined && sameRoom(tracked.presence, place);
    const refusedExitHere = here && event.direction === 'out' && !event.granted;
    // Every other badge event shows where the person is not, unless it came before the entry.
    if (tracked && !happenedBefore(mark, tracked.entry)) {
      if (!here) this.end(person, 'moved', event.at);
      else if (event.direction === 'in') this.end(person, 'seen-outside', event.at);
      else if (event.granted) this.end(person, 'exit', event.at);
      // A refused exit: still inside. That confirms a presence here but never starts one.
      else this.renew(person, event.at);
    }
    if (!refusedExitHere) {
      const inside = event.direction === 'out' && !event.granted ? place : undefined;
      this.noteOut(person, { mark, ...(inside ? { inside } : {}) });
    }
    if (event.direction === 'out' && event.granted) this.lapsed.delete(person);
  }

  /** A revoked badge ends the presence it opened. */
  badgeRevoked(badge: string): void {
    for (const [person, { presence }] of this.present) {
      if (presence.badge === badge) this.end(person, 'badge-revoked', this.ports.clock.now());
    }
  }

  /** Ends every presence whose entry badge `isRevoked` now says is revoked. */
  endRevoked(): void {
    for (const [person, { presence }] of this.present) {
      if (this.ports.isRevoked?.(presence.badge)) this.end(person, 'badge-revoked', this.ports.clock.now());
    }
  }

  /** A lockdown empties the room (or every room of the site when `room` is absent). */
  lockdown(site: string, room: string | undefined): void {
    this.endAt(site, room, 'lockdown');
  }

  /**
   * An evacuation releases every door of the gateway, so nobody's coming and going is seen: it
   * ends every presence at the site, and no entry there opens one until every evacuation at the
   * site has ended.
   */
  evacuation(site: string, gateway: string | undefined, active: boolean): void {
    const gateways = this.evacuating.get(site) ?? new Set<string>();
    if (active) {
      gateways.add(gateway ?? '');
      this.evacuating.set(site, gateways);
      this.endAt(site, undefined, 'evacuation');
      return;
    }
    gateways.delete(gateway ?? '');
    if (gateways.size === 0) this.evacuating.delete(site);
  }

  /**
   * Forgets everyone `known` no longer knows (erased from the directory): their presence ends as
   * if the badge were revoked (it is gone), and nothing of them stays.
   */
  forgetUnknown(known: (person: string) => boolean): void {
    for (const person of [...this.present.keys()])
      if (!known(person)) this.end(person, 'badge-revoked', this.ports.clock.now());
    for (const map of [this.lapsed, this.lastOut])
      for (const person of [...map.keys()]) if (!known(person)) map.delete(person);
  }

  /** Drops leavings older than `beforeMs`: entries that old open no presence anyway. */
  prune(beforeMs: number): void {
    for (const [person, out] of this.lastOut) if (out.mark.at < beforeMs) this.lastOut.delete(person);
  }

  /** Where the person is, if anywhere. */
  whereIs(person: string): Presence | undefined {
    return this.present.get(person)?.presence;
  }

  /** Everyone present now. */
  everyone(): Presence[] {
    return [...this.present.values()].map((t) => t.presence);
  }

  /** Everyone present in one room. */
  inRoom(site: string, room: string): Presence[] {
    return this.everyone().filter((p) => p.site === site && p.room === room);
  }

  /** May this person use something that stands in this room right now? */
  check(person: string, place: RoomRef): PresenceVerdict {
    const presence = this.present.get(person)?.presence;
    if (presence) {
      if (this.ports.isRevoked?.(presence.badge)) {
        this.end(person, 'badge-revoked', this.ports.clock.now());
        return { allow: false, reason: 'not-present' };
      }
      if (presence.leaseUntil <= this.ports.clock.now()) {
        // The timer is due but has not fired yet: the answer must not depend on timer order.
        this.end(person, 'lease-expired', presence.leaseUntil);
        return { allow: false, reason: 'lease-expired' };
      }
      if (sameRoom(presence, place)) return { allow: true, presence };
      return { allow: false, reason: 'other-room' };
    }
    const lapsed = this.lapsed.get(person);
    if (lapsed && sameRoom(lapsed, place)) return { allow: false, reason: 'lease-expired' };
    return { allow: false, reason: 'not-present' };
  }

  /** Cancels every lease timer (the owner is stopping). */
  stop(): void {
    for (const { timer } of this.present.values()) timer.cancel();
    this.present.clear();
    this.lapsed.clear();
    this.lastOut.clear();
    this.evacuating.clear();
  }

  /** A granted entry: presence here, unless something says the person cannot be inside. */
  private entered(person: string, badge: string, place: RoomRef, mark: EventMark): void {
    const tracked = this.present.get(person);
    const here = tracked !== undefined && sameRoom(tracked.presence, place);
    // Through doors an evacuation released, or by a gateway that does not know the badge is
    // revoked yet: not present.
    const refused: PresenceEnd | undefined = this.evacuating.has(place.site)
      ? 'evacuation'
      : this.ports.isRevoked?.(badge)
        ? 'badge-revoked'
        : undefined;
    if (refused) {
      if (tracked) this.end(person, here ? refused : 'moved', mark.at);
      return;
    }
    // An entry a lease old says nothing about now (a gateway's outbox delivered it late).
    if (mark.at + this.settings.leaseMs <= this.ports.clock.now()) return;
    if (tracked && happenedBefore(mark, tracked.entry)) return;
    if (here) {
      this.renew(person, mark.at);
      return;
    }
    const out = this.lastOut.get(person);
    const leftSince =
      out !== undefined &&
      !happenedAfter(mark, out.mark) &&
      !(out.inside !== undefined && sameRoom(out.inside, place));
    const olderThanCurrent = tracked !== undefined && !happenedAfter(mark, tracked.entry);
    // Two rooms at once cannot both be true: the current presence ends whichever is right.
    if (tracked) this.end(person, 'moved', mark.at);
    if (leftSince || olderThanCurrent) return;
    this.begin({ person, badge, ...place, since: mark.at }, mark);
  }

  private noteOut(person: string, out: LastOut): void {
    const known = this.lastOut.get(person);
    if (!known || happenedAfter(out.mark, known.mark)) this.lastOut.set(person, out);
  }

  private endAt(site: string, room: string | undefined, reason: PresenceEnd): void {
    const now = this.ports.clock.now();
    for (const [person, { presence }] of this.present) {
      if (presence.site === site && (room === undefined || presence.room === room))
        this.end(person, reason, now);
    }
  }

  /** A lease runs from the event, but never from the future (a gateway clock running fast). */
  private leaseFrom(at: number): number {
    return Math.min(at, this.ports.clock.now()) + this.settings.leaseMs;
  }

  private begin(entry: Omit<Presence, 'leaseUntil'>, mark: EventMark): void {
    this.lapsed.delete(entry.person);
    const presence: Presence = { ...entry, leaseUntil: this.leaseFrom(entry.since) };
    this.present.set(entry.person, { presence, entry: mark, timer: this.leaseTimer(presence) });
    this.ports.onChange({ kind: 'began', presence });
  }

  private renew(person: string, at: number): void {
    const tracked = this.present.get(person);
    if (!tracked) return;
    tracked.timer.cancel();
    const presence: Presence = {
      ...tracked.presence,
      leaseUntil: Math.max(tracked.presence.leaseUntil, this.leaseFrom(at)),
    };
    this.present.set(person, { ...tracked, presence, timer: this.leaseTimer(presence) });
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
