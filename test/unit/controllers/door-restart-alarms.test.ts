import { describe, expect, it } from 'vitest';
import type { HeldCondition } from '../../../src/controllers/alarm-book.js';
import { doorHarness } from '../../helpers/door-harness.js';

const forced: HeldCondition = {
  alarm: 'door-forced',
  key: 'door-forced:main',
  severity: 'critical',
  door: 'main',
};
const heldOpen: HeldCondition = {
  alarm: 'door-held-open',
  key: 'door-held-open:main',
  severity: 'warning',
  door: 'main',
};

describe('door controller: door alarms carried over a restart', () => {
  it('clears a forced or held-open door that was closed during the restart as it starts', () => {
    const t = doorHarness({ carriedOver: [forced, heldOpen] });
    expect(t.events).toEqual([
      {
        kind: 'alarm.cleared',
        data: { alarm: 'door-forced', key: 'door-forced:main', door: 'main', detail: 'door closed at start' },
      },
      {
        kind: 'alarm.cleared',
        data: {
          alarm: 'door-held-open',
          key: 'door-held-open:main',
          door: 'main',
          detail: 'door closed at start',
        },
      },
    ]);
  });

  it('keeps a forced door that still stands open at start, and clears it when it closes', () => {
    const t = doorHarness({ carriedOver: [forced], openAtStart: true });
    // Its raising sent once more: a power loss may have kept the first from the outbox.
    expect(t.kinds()).toEqual(['alarm.raised']);
    expect(t.rules.alarms.carriedOver).toEqual([]);
    t.door.contact(false);
    expect(t.kinds()).toEqual(['alarm.raised', 'door.closed', 'alarm.cleared']);
  });
});
