import { describe, expect, it } from 'vitest';
import { DAY_MS, PolicyBook } from '../../../../src/controllers/retention/policy-book.js';
import { planRowSweep } from '../../../../src/controllers/retention/row-sweep-planner.js';
import { FakeClock } from '../../../../src/lib/clock.js';

const clock = new FakeClock(Date.UTC(2026, 2, 15, 12));
const now = clock.now();
const book = new PolicyBook(
  [
    { dataClass: 'alarms', scope: 'site', scopeId: 'berlin', days: 10 },
    { dataClass: 'quarantine', scope: 'global', scopeId: null, days: 14 },
  ],
  60,
  new Map([['berlin', 'acme']]),
  now,
);
const berlinHold = { id: 1, site: 'berlin', from: now - 30 * DAY_MS, to: now - 20 * DAY_MS };
const hamburgHold = { id: 2, site: 'hamburg', from: now - 90 * DAY_MS, to: now - 80 * DAY_MS };
const recentHold = { id: 3, site: null, from: now - DAY_MS, to: now };

describe('row sweep planning', () => {
  it("cuts a site's alarms off at that site's policy and spares its held spans", () => {
    const sweep = planRowSweep('alarms', 'berlin', book, [berlinHold, hamburgHold, recentHold]);
    expect(sweep).toMatchObject({ cutoff: now - 10 * DAY_MS, source: 'site:berlin', heldBy: [1] });
    expect(sweep.held).toEqual([{ from: berlinHold.from, to: berlinHold.to }]);
  });

  it('gives alarms without a site the global retention and only holds of every site', () => {
    const sweep = planRowSweep('alarms', null, book, [berlinHold, { ...hamburgHold, site: null }]);
    expect(sweep).toMatchObject({ days: 60, source: 'default', heldBy: [2] });
  });

  it('holds quarantined payloads under any hold, since their site cannot be trusted', () => {
    const sweep = planRowSweep('quarantine', null, book, [berlinHold, hamburgHold, recentHold]);
    expect(sweep).toMatchObject({ cutoff: now - 14 * DAY_MS, heldBy: [1, 2] });
  });
});
