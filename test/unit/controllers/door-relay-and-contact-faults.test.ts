import { describe, expect, it } from 'vitest';
import type { HeldCondition } from '../../../src/controllers/alarm-book.js';
import { doorHarness } from '../../helpers/door-harness.js';

const forced: HeldCondition = {
  alarm: 'door-forced',
  key: 'door-forced:main',
  severity: 'critical',
  door: 'main',
};

describe('door controller: a relay that refuses to relock', () => {
  it('does not say door.locked for a relock the relay refused', () => {
    const t = doorHarness();
    t.enter();
    t.lock.refuses = true;
    t.clock.advance(5_000);
    expect(t.relay).toEqual(['unlock', 'lock']);
    expect(t.kinds()).not.toContain('door.locked');
  });

  it('says door.locked once, when the relay reports that it holds the door', () => {
    const t = doorHarness();
    t.enter();
    t.lock.refuses = true;
    t.clock.advance(5_000);
    t.lock.state = 'locked'; // a retried write went through
    t.door.relayChanged('locked');
    t.door.relayChanged('locked');
    expect(t.kinds().filter((k) => k === 'door.locked')).toHaveLength(1);
  });

  it('says nothing for a relay change it was not waiting for', () => {
    const t = doorHarness();
    t.door.relayChanged('locked');
    t.door.relayChanged('unlocked');
    expect(t.events).toEqual([]);
  });

  it('owes nothing once a later relock goes through', () => {
    const t = doorHarness();
    t.enter();
    t.lock.refuses = true;
    t.clock.advance(5_000);
    t.lock.refuses = false;
    t.enter();
    t.clock.advance(5_000);
    t.door.relayChanged('locked');
    expect(t.kinds().filter((k) => k === 'door.locked')).toHaveLength(1);
  });
});

describe('door controller: a contact that could not tell at start', () => {
  it('keeps a forced alarm carried over a restart until the contact says the door is closed', () => {
    const t = doorHarness({ carriedOver: [forced], openAtStart: 'unknown' });
    const atStart = t.kinds();
    t.door.contact(false);
    expect({ atStart, after: t.events.slice(atStart.length) }).toEqual({
      atStart: ['alarm.raised'],
      after: [
        {
          kind: 'alarm.cleared',
          data: { alarm: 'door-forced', key: 'door-forced:main', door: 'main', detail: 'door closed' },
        },
      ],
    });
  });

  it('takes a door it then finds open, while locked, as forced', () => {
    const t = doorHarness({ openAtStart: 'unknown' });
    t.door.contact(true);
    expect(t.kinds()).toEqual(['door.opened', 'door.forced', 'alarm.raised']);
  });
});
