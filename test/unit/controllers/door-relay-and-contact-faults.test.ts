import { describe, expect, it } from 'vitest';
import { doorHarness } from '../../helpers/door-harness.js';

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
