import { beforeEach, describe, expect, it } from 'vitest';
import {
  type BadgeEvent,
  type PresenceChange,
  PresenceTracker,
} from '../../../src/controllers/presence/presence-tracker.js';
import { FakeClock } from '../../../src/lib/clock.js';

const HOUR = 3_600_000;
const rooms: Record<string, string> = { 'hq/main': 'ident-1', 'hq/side': 'ident-1', 'hq/b': 'ident-2' };
const ident1 = { site: 'hq', room: 'ident-1' };
const ident2 = { site: 'hq', room: 'ident-2' };

describe('presence tracker', () => {
  let clock: FakeClock;
  let changes: PresenceChange[];
  let tracker: PresenceTracker;

  const badge = (over: Partial<BadgeEvent> = {}): BadgeEvent => ({
    site: 'hq',
    door: 'main',
    direction: 'in',
    granted: true,
    person: 'ada',
    badge: 'b-ada',
    at: clock.now(),
    ...over,
  });
  const ended = () => changes.filter((c) => c.kind === 'ended').map((c) => c.kind === 'ended' && c.reason);

  beforeEach(() => {
    clock = new FakeClock();
    changes = [];
    tracker = new PresenceTracker(
      { leaseMs: 8 * HOUR },
      {
        clock,
        roomOfDoor: (site, door) => rooms[`${site}/${door}`],
        onChange: (change) => changes.push(change),
      },
    );
  });

  it('knows nobody before any badge event', () => {
    expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
  });

  it('puts a person in the room on a granted entry, with the time of entry', () => {
    const at = clock.now();
    tracker.badge(badge());
    expect(tracker.check('ada', ident1)).toMatchObject({
      allow: true,
      presence: { since: at, badge: 'b-ada' },
    });
    expect(tracker.whereIs('ada')).toMatchObject({ site: 'hq', room: 'ident-1', leaseUntil: at + 8 * HOUR });
    expect(changes.map((c) => c.kind)).toEqual(['began']);
  });

  it('answers other-room for a person present elsewhere', () => {
    tracker.badge(badge());
    expect(tracker.check('ada', ident2)).toEqual({ allow: false, reason: 'other-room' });
  });

  it('ends presence on a granted exit', () => {
    tracker.badge(badge());
    clock.advance(HOUR);
    tracker.badge(badge({ direction: 'out', at: clock.now() }));
    expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
    expect(ended()).toEqual(['exit']);
  });

  it('treats any door of the same room as the same room', () => {
    tracker.badge(badge({ door: 'main' }));
    tracker.badge(badge({ door: 'side', direction: 'out' }));
    expect(ended()).toEqual(['exit']);
  });

  it('ends presence when the person is refused at an entry reader of the room (standing outside)', () => {
    tracker.badge(badge());
    tracker.badge(badge({ granted: false }));
    expect(tracker.check('ada', ident1).allow).toBe(false);
    expect(ended()).toEqual(['seen-outside']);
  });

  it('does not start presence from a refused exit, but renews an existing one', () => {
    tracker.badge(badge({ direction: 'out', granted: false }));
    expect(tracker.whereIs('ada')).toBeUndefined();
    tracker.badge(badge());
    clock.advance(7 * HOUR);
    tracker.badge(badge({ direction: 'out', granted: false, at: clock.now() }));
    clock.advance(7 * HOUR);
    expect(tracker.check('ada', ident1).allow).toBe(true);
  });

  it('moves a person who enters another room', () => {
    tracker.badge(badge());
    clock.advance(60_000);
    tracker.badge(badge({ door: 'b', at: clock.now() }));
    expect(tracker.check('ada', ident2).allow).toBe(true);
    expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'other-room' });
    expect(ended()).toEqual(['moved']);
  });

  it('lets the lease lapse after its maximum duration without a badge event', () => {
    tracker.badge(badge());
    clock.advance(8 * HOUR - 1);
    expect(tracker.check('ada', ident1).allow).toBe(true);
    clock.advance(1);
    expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'lease-expired' });
    expect(ended()).toEqual(['lease-expired']);
  });

  it('answers lease-expired even when the lease timer has not fired yet', () => {
    const late = new PresenceTracker(
      { leaseMs: HOUR },
      {
        clock: { now: () => clock.now(), setTimeout: () => ({ cancel() {} }) },
        roomOfDoor: () => 'ident-1',
        onChange: () => {},
      },
    );
    late.badge(badge());
    clock.advance(HOUR);
    expect(late.check('ada', ident1)).toEqual({ allow: false, reason: 'lease-expired' });
    expect(late.whereIs('ada')).toBeUndefined();
  });

  it('renews the lease on a repeated entry badge in the same room', () => {
    tracker.badge(badge());
    clock.advance(6 * HOUR);
    tracker.badge(badge({ at: clock.now() }));
    clock.advance(6 * HOUR);
    expect(tracker.check('ada', ident1).allow).toBe(true);
    expect(changes.map((c) => c.kind)).toEqual(['began', 'renewed']);
  });

  it('forgets the lapsed lease with the next exit', () => {
    tracker.badge(badge());
    clock.advance(9 * HOUR);
    tracker.badge(badge({ direction: 'out', at: clock.now() }));
    expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
  });

  it('ends the presence opened by a badge that is revoked', () => {
    tracker.badge(badge());
    tracker.badge(badge({ person: 'bob', badge: 'b-bob' }));
    tracker.badgeRevoked('b-ada');
    expect(tracker.check('ada', ident1).allow).toBe(false);
    expect(tracker.check('bob', ident1).allow).toBe(true);
    expect(ended()).toEqual(['badge-revoked']);
  });

  it('empties a room under lockdown and leaves other rooms alone', () => {
    tracker.badge(badge());
    tracker.badge(badge({ person: 'bob', badge: 'b-bob', door: 'b' }));
    tracker.lockdown('hq', 'ident-1');
    expect(tracker.inRoom('hq', 'ident-1')).toEqual([]);
    expect(tracker.inRoom('hq', 'ident-2').map((p) => p.person)).toEqual(['bob']);
  });

  it('empties every room of the site under a site-wide lockdown', () => {
    tracker.badge(badge());
    tracker.badge(badge({ person: 'bob', badge: 'b-bob', door: 'b' }));
    tracker.lockdown('hq', undefined);
    expect(ended()).toEqual(['lockdown', 'lockdown']);
  });

  it("ignores an exit that the gateway's sequence numbers place before the current entry (delivered late)", () => {
    const exitAt = clock.now();
    clock.advance(HOUR);
    tracker.badge(badge({ at: clock.now(), gateway: 'gw-1', seq: 8 }));
    tracker.badge(badge({ direction: 'out', at: exitAt, gateway: 'gw-1', seq: 7 }));
    expect(tracker.check('ada', ident1).allow).toBe(true);
  });

  it('ignores doors of no known room and events without a person', () => {
    tracker.badge(badge({ door: 'unknown' }));
    tracker.badge(badge({ person: undefined, granted: false }));
    expect(changes).toEqual([]);
  });

  it('refuses a lease that is not a positive whole number of ms', () => {
    const ports = { clock, roomOfDoor: () => undefined, onChange: () => {} };
    expect(() => new PresenceTracker({ leaseMs: 0 }, ports)).toThrow(/positive number of ms/);
    expect(() => new PresenceTracker({ leaseMs: 1.5 }, ports)).toThrow(/positive number of ms/);
  });

  it('cancels its lease timers on stop', () => {
    tracker.badge(badge());
    expect(clock.pendingTimers()).toBe(1);
    tracker.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
