import { describe, expect, it } from 'vitest';
import { DAY_MS, PolicyBook, type PolicyRule } from '../../../../src/controllers/retention/policy-book.js';
import { FakeClock } from '../../../../src/lib/clock.js';

const clock = new FakeClock(Date.UTC(2026, 2, 15, 12));
const customers = new Map([
  ['berlin', 'acme'],
  ['munich', 'acme'],
  ['hamburg', 'beta'],
]);
const rule = (r: Partial<PolicyRule> & Pick<PolicyRule, 'days'>): PolicyRule => ({
  dataClass: 'access-events',
  scope: 'global',
  scopeId: null,
  ...r,
});

describe('retention policy resolution', () => {
  it('falls back to the configured default when no policy is stored', () => {
    const book = new PolicyBook([], 60, customers, clock.now());
    expect(book.resolve('access-events', 'berlin')).toEqual({
      days: 60,
      source: 'default',
      cutoff: clock.now() - 60 * DAY_MS,
    });
  });

  it('lets the most specific policy win: site over customer over global', () => {
    const book = new PolicyBook(
      [
        rule({ days: 90 }),
        rule({ scope: 'customer', scopeId: 'acme', days: 30 }),
        rule({ scope: 'site', scopeId: 'munich', days: 10 }),
      ],
      60,
      customers,
      clock.now(),
    );
    expect(book.resolve('access-events', 'munich')).toMatchObject({ days: 10, source: 'site:munich' });
    expect(book.resolve('access-events', 'berlin')).toMatchObject({ days: 30, source: 'customer:acme' });
    expect(book.resolve('access-events', 'hamburg')).toMatchObject({ days: 90, source: 'global' });
    expect(book.resolve('access-events', 'unregistered')).toMatchObject({ days: 90, source: 'global' });
  });

  it('keeps the data classes apart', () => {
    const book = new PolicyBook([rule({ dataClass: 'video', days: 7 })], 60, customers, clock.now());
    expect(book.resolve('video', 'berlin').days).toBe(7);
    expect(book.resolve('access-events', 'berlin').days).toBe(60);
  });

  it('gives data without a site the global answer', () => {
    const book = new PolicyBook(
      [rule({ dataClass: 'alarms', scope: 'customer', scopeId: 'acme', days: 5 })],
      60,
      customers,
      clock.now(),
    );
    expect(book.resolve('alarms', null)).toMatchObject({ days: 60, source: 'default' });
  });

  it('knows the latest cutoff any site can have, from the shortest policy of the classes asked', () => {
    const book = new PolicyBook(
      [
        rule({ days: 90 }),
        rule({ scope: 'site', scopeId: 'berlin', days: 20 }),
        rule({ dataClass: 'alarms', days: 1 }),
      ],
      60,
      customers,
      clock.now(),
    );
    expect(book.latestCutoff(['access-events'])).toBe(clock.now() - 20 * DAY_MS);
    expect(book.latestCutoff(['access-events', 'video'])).toBe(clock.now() - 20 * DAY_MS);
    expect(
      new PolicyBook([rule({ days: 90 })], 60, customers, clock.now()).latestCutoff(['access-events']),
    ).toBe(clock.now() - 90 * DAY_MS);
  });
});
