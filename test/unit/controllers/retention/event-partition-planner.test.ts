import { describe, expect, it } from 'vitest';
import {
  type EventPartition,
  type LegalHoldRange,
  partitionsToInspect,
  planPartition,
} from '../../../../src/controllers/retention/event-partition-planner.js';
import { DAY_MS, PolicyBook, type PolicyRule } from '../../../../src/controllers/retention/policy-book.js';
import { FakeClock } from '../../../../src/lib/clock.js';

const HOUR = 3_600_000;
const customers = new Map([
  ['berlin', 'acme'],
  ['hamburg', 'beta'],
]);
const global60: PolicyRule = { dataClass: 'access-events', scope: 'global', scopeId: null, days: 60 };
const beta30: PolicyRule = { dataClass: 'access-events', scope: 'customer', scopeId: 'beta', days: 30 };
const videoBeta30: PolicyRule = { ...beta30, dataClass: 'video' };

/** The UTC-day partition holding the instant `daysAgo` days before `now`. */
function partitionDaysAgo(now: number, daysAgo: number): EventPartition {
  const from = Math.floor((now - daysAgo * DAY_MS) / DAY_MS) * DAY_MS;
  return {
    name: `events_p${new Date(from).toISOString().slice(0, 10).replaceAll('-', '')}`,
    from,
    to: from + DAY_MS,
  };
}

function setup(rules: PolicyRule[] = [global60]) {
  const clock = new FakeClock(Date.UTC(2026, 2, 15, 12));
  return { clock, book: () => new PolicyBook(rules, 60, customers, clock.now()) };
}

describe('event partition planning', () => {
  it('drops a partition whose every row is past its 60-day retention', () => {
    const { clock, book } = setup();
    const old = partitionDaysAgo(clock.now(), 61);
    const plan = planPartition(old, ['berlin'], book(), []);
    expect(plan?.method).toBe('partition-drop');
    expect(plan?.steps.map((s) => [s.site, s.group, s.source])).toEqual([
      ['berlin', 'access', 'global'],
      ['berlin', 'video', 'default'],
      ['berlin', 'footage-link', 'default'],
    ]);
  });

  it('leaves a partition 59 days old alone under a 60-day policy', () => {
    const { clock, book } = setup();
    expect(planPartition(partitionDaysAgo(clock.now(), 59), ['berlin'], book(), [])).toBeUndefined();
  });

  it('deletes only the expired part of the partition the cutoff falls into', () => {
    const { clock, book } = setup();
    const straddling = partitionDaysAgo(clock.now(), 60);
    const plan = planPartition(straddling, ['berlin'], book(), []);
    expect(plan?.method).toBe('delete');
    expect(plan?.steps.find((s) => s.group === 'access')?.ranges).toEqual([
      { from: straddling.from, to: clock.now() - 60 * DAY_MS },
    ]);
  });

  it('deletes the rows of a customer with a shorter period from a partition that stays', () => {
    const { clock, book } = setup([global60, beta30, videoBeta30]);
    const partition = partitionDaysAgo(clock.now(), 59);
    const plan = planPartition(partition, ['berlin', 'hamburg'], book(), []);
    expect(plan?.method).toBe('delete');
    expect(plan?.steps.map((s) => [s.site, s.group, s.source, s.ranges])).toEqual([
      ['hamburg', 'access', 'customer:beta', [{ from: partition.from, to: partition.to }]],
      ['hamburg', 'video', 'customer:beta', [{ from: partition.from, to: partition.to }]],
      ['hamburg', 'footage-link', 'customer:beta', [{ from: partition.from, to: partition.to }]],
    ]);
  });

  it('drops a partition once its clock-driven expiry is reached, not before', () => {
    const { clock, book } = setup();
    const partition = partitionDaysAgo(clock.now(), 60);
    expect(planPartition(partition, ['berlin'], book(), [])?.method).toBe('delete');
    clock.advance(12 * HOUR);
    expect(planPartition(partition, ['berlin'], book(), [])?.method).toBe('partition-drop');
  });

  it('keeps a partition that a legal hold touches, deleting around the held span', () => {
    const { clock, book } = setup();
    const old = partitionDaysAgo(clock.now(), 61);
    const hold: LegalHoldRange = {
      id: 7,
      site: 'berlin',
      from: old.from + 6 * HOUR,
      to: old.from + 8 * HOUR,
    };
    const plan = planPartition(old, ['berlin'], book(), [hold]);
    expect(plan?.method).toBe('delete');
    const access = plan?.steps.find((s) => s.group === 'access');
    expect(access?.ranges).toEqual([
      { from: old.from, to: hold.from },
      { from: hold.to, to: old.to },
    ]);
    expect(access?.held).toEqual([{ from: hold.from, to: hold.to }]);
    expect(access?.heldBy).toEqual([7]);
  });

  it('deletes nothing of a site that a hold covers entirely, but reports the hold', () => {
    const { clock, book } = setup();
    const old = partitionDaysAgo(clock.now(), 61);
    const everySite: LegalHoldRange = { id: 3, site: null, from: old.from - DAY_MS, to: old.to + DAY_MS };
    const plan = planPartition(old, ['berlin'], book(), [everySite]);
    expect(plan?.method).toBe('delete');
    expect(plan?.steps.every((s) => s.ranges.length === 0 && s.heldBy[0] === 3)).toBe(true);
  });

  it("ignores another site's hold when deciding to drop", () => {
    const { clock, book } = setup();
    const old = partitionDaysAgo(clock.now(), 61);
    const elsewhere: LegalHoldRange = { id: 1, site: 'hamburg', from: old.from, to: old.to };
    expect(planPartition(old, ['berlin'], book(), [elsewhere])?.method).toBe('partition-drop');
  });

  it('deletes video rows under a shorter video period and takes their footage links along', () => {
    const { clock, book } = setup([global60, { ...global60, dataClass: 'video', days: 7 }]);
    const plan = planPartition(partitionDaysAgo(clock.now(), 10), ['berlin'], book(), []);
    expect(plan?.steps.map((s) => [s.dataClass, s.group, s.days])).toEqual([
      ['video', 'video', 7],
      ['video', 'footage-link', 7],
    ]);
  });

  it('deletes footage links together with access events when access events expire first', () => {
    const { clock, book } = setup([
      { ...global60, days: 30 },
      { ...global60, dataClass: 'video', days: 90 },
    ]);
    const plan = planPartition(partitionDaysAgo(clock.now(), 40), ['berlin'], book(), []);
    expect(plan?.steps.map((s) => [s.dataClass, s.group, s.days, s.source])).toEqual([
      ['access-events', 'access', 30, 'global'],
      ['video', 'footage-link', 30, 'global'],
    ]);
  });

  it('drops an empty partition once unscoped data would have expired, and keeps recent empty ones', () => {
    const { clock, book } = setup([global60, beta30]);
    expect(planPartition(partitionDaysAgo(clock.now(), 61), [], book(), [])?.method).toBe('partition-drop');
    expect(planPartition(partitionDaysAgo(clock.now(), 40), [], book(), [])).toBeUndefined();
    expect(planPartition(partitionDaysAgo(clock.now(), -3), [], book(), [])).toBeUndefined();
  });

  it('inspects only partitions older than the shortest policy allows, oldest first', () => {
    const { clock, book } = setup([global60, beta30]);
    const days = [-7, 0, 29, 31, 61, 45].map((d) => partitionDaysAgo(clock.now(), d));
    expect(partitionsToInspect(days, book()).map((p) => p.name)).toEqual([
      partitionDaysAgo(clock.now(), 61).name,
      partitionDaysAgo(clock.now(), 45).name,
      partitionDaysAgo(clock.now(), 31).name,
    ]);
  });
});
