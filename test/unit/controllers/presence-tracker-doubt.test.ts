import { beforeEach, describe, expect, it } from 'vitest';
import {
  type BadgeEvent,
  type PresenceChange,
  PresenceTracker,
} from '../../../src/controllers/presence/presence-tracker.js';
import { FakeClock } from '../../../src/lib/clock.js';

/**
 * When the doors' reports disagree — late deliveries, gateway clocks that step, a badge revoked
 * centrally that a gateway still accepts, doors an evacuation holds open — the person is not
 * present.
 */
const MIN = 60_000;
const HOUR = 60 * MIN;
const rooms: Record<string, string> = { 'hq/main': 'ident-1', 'hq/back': 'ident-1', 'hq/b': 'ident-2' };
const ident1 = { site: 'hq', room: 'ident-1' };
const ident2 = { site: 'hq', room: 'ident-2' };

describe('presence tracker, when in doubt', () => {
  let clock: FakeClock;
  let changes: PresenceChange[];
  let revoked: Set<string>;
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
  const ended = () => changes.flatMap((c) => (c.kind === 'ended' ? [c.reason] : []));

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 8));
    changes = [];
    revoked = new Set();
    tracker = new PresenceTracker(
      { leaseMs: 8 * HOUR },
      {
        clock,
        roomOfDoor: (site, door) => rooms[`${site}/${door}`],
        isRevoked: (b) => revoked.has(b),
        onChange: (change) => changes.push(change),
      },
    );
  });

  describe('order of events', () => {
    it("ends presence with an exit stamped before the entry when the gateway's numbers put it after (clock stepped back)", () => {
      tracker.badge(badge({ at: clock.now() + 10 * MIN, gateway: 'gw-1', seq: 1 }));
      clock.advance(5 * MIN);
      tracker.badge(badge({ direction: 'out', gateway: 'gw-1', seq: 2 }));
      expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
      expect(ended()).toEqual(['exit']);
    });

    it('ends presence with an exit from another gateway even when it is stamped before the entry', () => {
      tracker.badge(badge({ at: clock.now() + 10 * MIN, gateway: 'gw-1', seq: 1 }));
      tracker.badge(badge({ door: 'back', direction: 'out', gateway: 'gw-2', seq: 1 }));
      expect(tracker.check('ada', ident1).allow).toBe(false);
    });

    it('opens no presence with an entry that arrives after a later exit (outbox delivered late)', () => {
      const enteredAt = clock.now();
      clock.advance(30 * MIN);
      tracker.badge(badge({ door: 'back', direction: 'out', at: clock.now(), gateway: 'gw-2', seq: 5 }));
      clock.advance(10 * MIN);
      tracker.badge(badge({ at: enteredAt, gateway: 'gw-1', seq: 9 }));
      expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
      expect(changes).toEqual([]);
    });

    it("orders one gateway's entry after its exit by sequence number, whatever the stamps say", () => {
      tracker.badge(badge({ direction: 'out', at: clock.now(), gateway: 'gw-1', seq: 5 }));
      tracker.badge(badge({ at: clock.now() - MIN, gateway: 'gw-1', seq: 6 }));
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });

    it('ignores an entry older than one gateway exit by sequence number, however it is stamped', () => {
      tracker.badge(badge({ direction: 'out', at: clock.now(), gateway: 'gw-1', seq: 6 }));
      tracker.badge(badge({ at: clock.now() + MIN, gateway: 'gw-1', seq: 5 }));
      expect(tracker.check('ada', ident1).allow).toBe(false);
    });

    it('opens presence with an entry after a later-stamped exit from another gateway', () => {
      tracker.badge(badge({ direction: 'out', gateway: 'gw-2', seq: 1 }));
      clock.advance(MIN);
      tracker.badge(badge({ at: clock.now(), gateway: 'gw-1', seq: 1 }));
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });

    it('keeps the gateways of different sites apart', () => {
      tracker.badge(badge({ direction: 'out', gateway: 'gw-1', seq: 9, site: 'other' }));
      tracker.badge(badge({ at: clock.now() + MIN, gateway: 'gw-1', seq: 1 }));
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });

    it('opens no presence with an entry older than a lease', () => {
      tracker.badge(badge({ at: clock.now() - 8 * HOUR }));
      expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
      expect(changes).toEqual([]);
    });

    it('runs the lease from now, not from an entry stamped in the future', () => {
      tracker.badge(badge({ at: clock.now() + 30 * MIN }));
      expect(tracker.whereIs('ada')?.leaseUntil).toBe(clock.now() + 8 * HOUR);
    });

    it('ends presence when an entry to another room is stamped before the current one, and opens neither', () => {
      tracker.badge(badge({ gateway: 'gw-1', seq: 1 }));
      tracker.badge(badge({ door: 'b', at: clock.now() - MIN, gateway: 'gw-2', seq: 1 }));
      expect(tracker.check('ada', ident1).allow).toBe(false);
      expect(tracker.check('ada', ident2).allow).toBe(false);
      expect(ended()).toEqual(['moved']);
    });
  });

  describe('badges seen in another room', () => {
    it('ends presence as moved when the person is refused at the exit of another room (inside it)', () => {
      tracker.badge(badge());
      clock.advance(10 * MIN);
      tracker.badge(badge({ door: 'b', direction: 'out', granted: false, at: clock.now() }));
      expect(tracker.check('ada', ident1).allow).toBe(false);
      expect(tracker.check('ada', ident2).allow).toBe(false);
      expect(ended()).toEqual(['moved']);
    });

    it('ends presence as moved when the person is refused at the entry of another room (outside it)', () => {
      tracker.badge(badge());
      clock.advance(10 * MIN);
      tracker.badge(badge({ door: 'b', granted: false, at: clock.now() }));
      expect(ended()).toEqual(['moved']);
    });

    it('opens presence with a late entry into the room a later refused exit showed the person inside', () => {
      const enteredAt = clock.now();
      clock.advance(MIN);
      tracker.badge(badge({ direction: 'out', granted: false, at: clock.now(), gateway: 'gw-2', seq: 1 }));
      tracker.badge(badge({ at: enteredAt, gateway: 'gw-1', seq: 1 }));
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });
  });

  describe('revoked badges', () => {
    it('opens no presence with an entry a gateway granted for a badge revoked centrally', () => {
      revoked.add('b-ada');
      tracker.badge(badge());
      expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
      expect(changes).toEqual([]);
    });

    it('ends presence elsewhere with an entry on a revoked badge', () => {
      tracker.badge(badge({ door: 'b', badge: 'b-ada-old' }));
      revoked.add('b-ada');
      clock.advance(MIN);
      tracker.badge(badge({ at: clock.now() }));
      expect(ended()).toEqual(['moved']);
      expect(tracker.whereIs('ada')).toBeUndefined();
    });

    it('ends a presence at the login check once its badge is revoked', () => {
      tracker.badge(badge());
      revoked.add('b-ada');
      expect(tracker.check('ada', ident1)).toEqual({ allow: false, reason: 'not-present' });
      expect(ended()).toEqual(['badge-revoked']);
    });

    it('ends every presence whose badge is revoked, not only newly revoked ones', () => {
      tracker.badge(badge());
      tracker.badge(badge({ person: 'bob', badge: 'b-bob' }));
      revoked.add('b-bob');
      tracker.endRevoked();
      expect(tracker.inRoom('hq', 'ident-1').map((p) => p.person)).toEqual(['ada']);
      expect(ended()).toEqual(['badge-revoked']);
    });
  });

  describe('evacuation', () => {
    it('ends every presence at the site', () => {
      tracker.badge(badge());
      tracker.badge(badge({ person: 'bob', badge: 'b-bob', door: 'b' }));
      tracker.evacuation('hq', 'gw-1', true);
      expect(tracker.everyone()).toEqual([]);
      expect(ended()).toEqual(['evacuation', 'evacuation']);
    });

    it('leaves other sites alone', () => {
      tracker.badge(badge());
      tracker.evacuation('elsewhere', 'gw-1', true);
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });

    it('opens no presence while any evacuation at the site is in force, and again once all ended', () => {
      tracker.evacuation('hq', 'gw-1', true);
      tracker.evacuation('hq', 'gw-2', true);
      tracker.badge(badge());
      expect(tracker.check('ada', ident1).allow).toBe(false);
      tracker.evacuation('hq', 'gw-1', false);
      clock.advance(MIN);
      tracker.badge(badge({ at: clock.now() }));
      expect(tracker.check('ada', ident1).allow).toBe(false);
      tracker.evacuation('hq', 'gw-2', false);
      clock.advance(MIN);
      tracker.badge(badge({ at: clock.now() }));
      expect(tracker.check('ada', ident1).allow).toBe(true);
    });
  });

  describe('people no longer in the directory', () => {
    it('ends their presence and forgets what else it knew of them', () => {
      tracker.badge(badge());
      tracker.badge(badge({ person: 'bob', badge: 'b-bob' }));
      tracker.forgetUnknown((person) => person === 'bob');
      expect(tracker.everyone().map((p) => p.person)).toEqual(['bob']);
      expect(ended()).toEqual(['badge-revoked']);
    });
  });
});
