import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ErasedRefusals, namedIn } from '../../../../src/dashboard/ingest/erased-refusals.js';
import {
  type TombstoneKind,
  tombstoneDigest,
} from '../../../../src/dashboard/retention/erasure-tombstones.js';
import type { Queryable } from '../../../../src/dashboard/storage/event-store.js';
import type { Envelope } from '../../../../src/protocol/envelope.js';

const key = randomBytes(32);
let seq = 0;

/** The fake database's erasures happened at this time; the events by default just before it. */
const ERASED_AT = new Date('2026-03-15T13:00:00.000Z');

function event(kind: string, data: Record<string, unknown>, time = '2026-03-15T12:00:00.000Z'): Envelope {
  seq += 1;
  return {
    v: 1,
    id: `0190f0c0-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    site: 'berlin',
    gateway: 'gw-1',
    seq,
    time,
    kind,
    data,
    sig: 'signature',
  } as Envelope;
}

/**
 * A database holding the tombstones' key and these tombstones, answering the two statements the
 * refusal sends as PostgreSQL would: which of the hashes sent it holds.
 */
function database(
  tombstones: Array<[TombstoneKind, string]>,
  holds: Array<{ site: string | null; held_from: Date; held_to: Date }> = [],
): Queryable & { statements: number; locks: number } {
  const held = new Set(tombstones.map(([kind, value]) => tombstoneDigest(key, kind, value).toString('hex')));
  const db = {
    statements: 0,
    locks: 0,
    async query(sql: string, params: unknown[] = []) {
      if (sql.includes('pg_advisory_xact_lock_shared')) {
        db.locks += 1;
        return { rows: [] };
      }
      db.statements += 1;
      if (sql.includes('FROM erasure_tombstone_key')) return { rows: [{ key, key_sealed: null }] };
      if (sql.includes('FROM legal_holds')) return { rows: holds };
      const digests = params[0] as Buffer[];
      const rows = digests.flatMap((digest, i) =>
        held.has(digest.toString('hex')) ? [{ i: String(i + 1), erased_at: ERASED_AT }] : [],
      );
      return { rows };
    },
  };
  return db as unknown as Queryable & { statements: number; locks: number };
}

describe('tombstone hashes', () => {
  it('hash the same id under the same key alike, and name nothing in plain', () => {
    const digest = tombstoneDigest(key, 'person', 'agent-4711');
    expect(digest).toHaveLength(32);
    expect(digest.equals(tombstoneDigest(key, 'person', 'agent-4711'))).toBe(true);
    expect(digest.toString('latin1')).not.toContain('agent-4711');
  });

  it('tell a badge from a person of the same name, and one key from another', () => {
    const person = tombstoneDigest(key, 'person', 'X-1');
    expect(person.equals(tombstoneDigest(key, 'badge', 'X-1'))).toBe(false);
    expect(person.equals(tombstoneDigest(randomBytes(32), 'person', 'X-1'))).toBe(false);
  });
});

describe('what an event names', () => {
  it('finds the person, the companion, the badge and a lock-out key', () => {
    expect(
      namedIn(event('access.granted', { door: 'main', person: 'p-1', badge: 'B-1', companion: 'p-2' })),
    ).toEqual([
      { kind: 'person', value: 'p-1', field: 'person' },
      { kind: 'person', value: 'p-2', field: 'companion' },
      { kind: 'badge', value: 'B-1', field: 'badge' },
    ]);
    expect(
      namedIn(event('alarm.cleared', { alarm: 'badge-locked-out', key: 'badge-locked-out:B-9' })),
    ).toEqual([{ kind: 'badge', value: 'B-9', field: 'key' }]);
    expect(namedIn(event('door.locked', { door: 'main' }))).toEqual([]);
  });
});

describe('refusing events of erased people', () => {
  it("takes out an event naming an erased person's id or badge, and leaves the rest", async () => {
    const db = database([
      ['person', 'p-erased'],
      ['badge', 'B-ERASED'],
    ]);
    const granted = event('access.granted', { door: 'main', person: 'p-erased', badge: 'B-ERASED' });
    const denied = event('access.denied', { door: 'main', badge: 'B-ERASED', reason: 'unknown-badge' });
    const companion = event('access.granted', {
      door: 'main',
      person: 'p-2',
      badge: 'B-2',
      companion: 'p-erased',
    });
    const other = event('access.granted', { door: 'main', person: 'p-3', badge: 'B-3' });
    const accepted = [granted, denied, companion, other].map((envelope, item) => ({ item, envelope }));

    const taken = await new ErasedRefusals().take(db, accepted);

    expect(taken.map((t) => t.item)).toEqual([0, 1]);
    // Someone else's entry with the erased person as companion is kept, as the erasure leaves it.
    expect(accepted.map((a) => a.item)).toEqual([2, 3]);
    expect(companion.data).toMatchObject({ person: 'p-2', companion: 'erased' });
    const [first] = taken;
    expect(first?.rejection).toMatchObject({
      reason: 'erased-person',
      uses: { site: 'berlin', gateway: 'gw-1', seq: granted.seq, id: granted.id },
    });
    expect(JSON.parse(first?.rejection.payload.toString() ?? '')).toEqual({
      v: 1,
      id: granted.id,
      site: 'berlin',
      gateway: 'gw-1',
      seq: granted.seq,
      time: granted.time,
      kind: 'access.granted',
    });
  });

  it("stores what happened after the erasure: a leaver's old card tried at a door, and its lock-out", async () => {
    const db = database([['badge', 'B-ERASED']]);
    const after = '2026-03-15T13:00:00.001Z';
    const denied = event(
      'access.denied',
      { door: 'main', badge: 'B-ERASED', reason: 'unknown-badge' },
      after,
    );
    const lockedOut = event(
      'alarm.raised',
      { alarm: 'badge-locked-out', key: 'badge-locked-out:B-ERASED', severity: 'warning' },
      after,
    );
    const atErasure = event('access.denied', { door: 'main', badge: 'B-ERASED' }, ERASED_AT.toISOString());
    const accepted = [denied, lockedOut, atErasure].map((envelope, item) => ({ item, envelope }));
    const taken = await new ErasedRefusals().take(db, accepted);
    expect(taken.map((t) => t.item)).toEqual([2]);
    expect(accepted.map((a) => a.item)).toEqual([0, 1]);
  });

  it('takes an erased badge alone only where the event names no person, as the erasure does', async () => {
    const db = database([['badge', 'B-ERASED']]);
    const someoneElses = event('access.granted', { door: 'main', person: 'p-2', badge: 'B-ERASED' });
    const nobodys = event('access.denied', { door: 'main', badge: 'B-ERASED', reason: 'unknown-badge' });
    const accepted = [someoneElses, nobodys].map((envelope, item) => ({ item, envelope }));
    const taken = await new ErasedRefusals().take(db, accepted);
    expect(taken.map((t) => t.item)).toEqual([1]);
    expect(accepted.map((a) => a.item)).toEqual([0]);
  });

  it('leaves what a legal hold covers as it is, as the erasure kept it', async () => {
    const db = database(
      [['person', 'p-erased']],
      [
        {
          site: 'berlin',
          held_from: new Date('2026-03-15T00:00:00Z'),
          held_to: new Date('2026-03-16T00:00:00Z'),
        },
      ],
    );
    const granted = event('access.granted', { door: 'main', person: 'p-erased', badge: 'B-1' });
    const companion = event('access.granted', { door: 'main', person: 'p-2', companion: 'p-erased' });
    const accepted = [granted, companion].map((envelope, item) => ({ item, envelope }));
    expect(await new ErasedRefusals().take(db, accepted)).toEqual([]);
    expect(accepted.map((a) => a.item)).toEqual([0, 1]);
    expect(companion.data).toMatchObject({ companion: 'p-erased' });
  });

  it('asks nothing for a batch that names no one', async () => {
    const db = database([['person', 'p-erased']]);
    const accepted = [{ envelope: event('door.forced', { door: 'main' }) }];
    expect(await new ErasedRefusals().take(db, accepted)).toEqual([]);
    expect(db.statements + db.locks).toBe(0);
  });

  it('reads the key once and asks once per batch', async () => {
    const db = database([]);
    const refusals = new ErasedRefusals();
    for (let i = 0; i < 2; i++) {
      const accepted = [1, 2, 3].map(() => ({
        envelope: event('access.granted', { door: 'main', person: 'p-1', badge: 'B-1' }),
      }));
      expect(await refusals.take(db, accepted)).toEqual([]);
    }
    expect(db.statements).toBe(3);
    // Each batch waits for an erasure under way before it reads the tombstones.
    expect(db.locks).toBe(2);
  });
});
