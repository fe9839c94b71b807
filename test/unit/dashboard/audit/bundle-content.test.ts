import { describe, expect, it } from 'vitest';
import {
  type ChainedEvent,
  chainedColumns,
  differingColumns,
  formatContentLine,
  microsToWhen,
  parseEventContent,
} from '../../../../src/dashboard/audit/bundle-content-check.js';

// As PostgreSQL renders jsonb_build_array('event', id, micros, v, site, gateway, seq, kind, door, person, data, sig)::text.
const TEXT =
  '["event", "0190f2c4-0000-7000-8000-000000000001", 1773316800000001, 1, "berlin", "gw-berlin", 7, "access.denied", "main", null, {"door": "main", "badge": "b-x", "reason": "wrong-code", "direction": "in"}, "sig"]';

const event = parseEventContent(TEXT) as ChainedEvent;

/** The row export-query.ts writes for that event (CSV: NULL as ''). */
const row = {
  when: '2026-03-12T12:00:00.000001Z',
  site: 'berlin',
  room: 'ident-1',
  door: 'main',
  reader: 'main/in',
  direction: 'in',
  person: '',
  badge: 'b-x',
  decision: 'denied',
  reason: 'wrong-code',
  event_id: '0190f2c4-0000-7000-8000-000000000001',
  gateway: 'gw-berlin',
  sequence: '7',
  clip: 'cam-1/clip-1',
  kind: 'access.denied',
  chain_no: '3',
  chain_hash: 'ab',
};

describe('an exported row against its chained content', () => {
  it('reads the event out of the text the chain digest was taken of', () => {
    expect(event).toEqual({
      id: '0190f2c4-0000-7000-8000-000000000001',
      micros: 1773316800000001,
      site: 'berlin',
      gateway: 'gw-berlin',
      seq: 7,
      kind: 'access.denied',
      door: 'main',
      person: null,
      data: { door: 'main', badge: 'b-x', reason: 'wrong-code', direction: 'in' },
    });
  });

  it.each([
    ['not JSON', '["event", '],
    ['an alarm', TEXT.replace('"event"', '"alarm"')],
    ['a shorter array', '["event", "id", 1]'],
    ['a time beyond exact integers', TEXT.replace('1773316800000001', '17733168000000000001')],
    ['a sequence that is text', TEXT.replace(' 7,', ' "7",')],
  ])('takes %s for no event', (_, text) => {
    expect(parseEventContent(text)).toBeUndefined();
  });

  it('writes microseconds as the export writes its time', () => {
    expect(microsToWhen(1773316800000001)).toBe('2026-03-12T12:00:00.000001Z');
    expect(microsToWhen(1773316800123456)).toBe('2026-03-12T12:00:00.123456Z');
    expect(microsToWhen(0)).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('finds nothing different in the row the export made of it, in CSV or JSON lines', () => {
    expect(differingColumns(row, event)).toEqual([]);
    expect(differingColumns({ ...row, person: null, sequence: 7, chain_no: 3 }, event)).toEqual([]);
  });

  it('names each column that differs, and none of those the content does not hold', () => {
    expect(
      differingColumns(
        {
          ...row,
          person: 'p-7',
          when: '2026-03-12T12:00:00.000002Z',
          reader: 'main/out',
          room: 'x',
          clip: '',
        },
        event,
      ),
    ).toEqual(['when', 'reader', 'person']);
  });

  it('derives reader and decision as the export query does', () => {
    const opened = { ...event, kind: 'door.opened', data: { door: 'main', direction: null } };
    expect(chainedColumns(opened)).toMatchObject({ reader: null, direction: null, decision: null });
    expect(chainedColumns({ ...event, door: null })).toMatchObject({ reader: null });
    expect(chainedColumns({ ...event, data: null })).toMatchObject({ reader: null, badge: null });
  });

  it('renders a data value that is no string as jsonb renders it', () => {
    const odd = { ...event, data: { badge: { id: 'b-x', n: [1, true] }, reason: 5 } };
    expect(chainedColumns(odd)).toMatchObject({ badge: '{"id": "b-x", "n": [1, true]}', reason: '5' });
  });

  it('says what was rechecked, what an erasure left, and when a bundle has no content file', () => {
    expect(formatContentLine({ rechecked: 4, erased: 0 })).toBe(
      "content: 4 rows hash to their chain links' digests and agree with their columns",
    );
    expect(formatContentLine({ rechecked: 3, erased: 1 })).toMatch(
      /; 1 could not be: rewritten by an erasure/,
    );
    expect(formatContentLine(undefined)).toMatch(
      /^content not rechecked: the bundle has no chain-content\.csv/,
    );
  });
});
