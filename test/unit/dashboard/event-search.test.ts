import { describe, expect, it } from 'vitest';
import { eventSearchCondition } from '../../../src/dashboard/storage/event-search.js';

describe('event search SQL', () => {
  it('matches everything without filters', () => {
    expect(eventSearchCondition({})).toEqual({ where: 'true', values: [] });
  });

  it('turns a time range into a plain range on occurred_at, the partition key', () => {
    expect(eventSearchCondition({ from: '2026-01-05T00:00:00Z', to: '2026-01-06T00:00:00Z' })).toEqual({
      where: 'occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz',
      values: ['2026-01-05T00:00:00Z', '2026-01-06T00:00:00Z'],
    });
  });

  it('matches a kind exactly, or as a prefix when it ends in a dot', () => {
    expect(eventSearchCondition({ kind: 'access.denied' }).where).toBe('kind = $1');
    expect(eventSearchCondition({ kind: 'access.' }).where).toBe('starts_with(kind, $1)');
  });

  it('numbers the parameters of the filters given, in a fixed order, ending with the cursor', () => {
    expect(
      eventSearchCondition({
        before: 90,
        reason: 'lockdown',
        door: 'main',
        site: 'hh',
        person: 'p-1',
        gateway: 'gw-1',
      }),
    ).toEqual({
      where:
        "site = $1 AND gateway = $2 AND door = $3 AND person = $4 AND data ->> 'reason' = $5 AND ingest_no < $6",
      values: ['hh', 'gw-1', 'main', 'p-1', 'lockdown', 90],
    });
  });

  it('never puts a value into the SQL text', () => {
    const hostile = "' OR 1=1 --";
    const { where, values } = eventSearchCondition({ door: hostile, person: hostile, kind: hostile });
    expect(where).not.toContain(hostile);
    expect(values).toEqual([hostile, hostile, hostile]);
  });
});
