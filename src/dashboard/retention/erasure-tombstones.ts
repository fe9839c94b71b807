import { createHmac } from 'node:crypto';
import type { KeyRing } from '../../lib/key-ring.js';
import type { Queryable } from '../storage/event-store.js';
import { tombstoneKeyForWriting } from './tombstone-key.js';

/**
 * Tombstones of erased people (migration 0028): keyed hashes of the person id and of each of their
 * badges, with the time of the erasure. The ingest does not store an event from before the
 * erasure that names one of them (erased-refusals.ts), so an event still in a gateway's outbox
 * does not bring the person back; what happened after the erasure is a new fact and is stored.
 *
 * The hashes are HMAC-SHA256 under one key that never changes once drawn (tombstone-key.ts),
 * so a tombstone matches for as long as it is kept. The key is sealed under the master key: the
 * table names no one by itself, and whoever holds the database alone cannot test a guessed id
 * against it (a dashboard without keys.master keeps the key in plain, and says so).
 */
export type TombstoneKind = 'person' | 'badge';

/** One hashed id: what it is goes into the hash, so a badge never matches a person of that name. */
export function tombstoneDigest(key: Buffer, kind: TombstoneKind, value: string): Buffer {
  return createHmac('sha256', key).update(`identgate/erasure-tombstone/v1/${kind}\u0000${value}`).digest();
}

/**
 * Writes the tombstones of an erased person and their badges, in the erasure's transaction. An
 * id erased again (enrolled again meanwhile) keeps the later time.
 */
export async function writeTombstones(
  db: Queryable,
  ring: KeyRing | undefined,
  personId: string,
  badges: readonly string[],
  at: Date,
): Promise<void> {
  const key = await tombstoneKeyForWriting(db, ring);
  const digests = [
    tombstoneDigest(key, 'person', personId),
    ...badges.map((badge) => tombstoneDigest(key, 'badge', badge)),
  ];
  await db.query(
    `INSERT INTO erasure_tombstones (digest, erased_at) SELECT d, $2 FROM unnest($1::bytea[]) AS d
     ON CONFLICT (digest) DO UPDATE SET erased_at = greatest(erasure_tombstones.erased_at, EXCLUDED.erased_at)`,
    [digests, at],
  );
}

/**
 * An erasure holds this exclusively, and an ingest transaction whose events name anyone shares
 * it before it reads the tombstones: so an event is either stored before the erasure starts (and
 * the erasure deletes it) or checked after it commits (and its tombstones refuse it), never
 * stored in between, unseen by both. Advisory, so the ingest writes nothing for it; a waiting
 * erasure holds back later ingest transactions, which queue behind it, for its duration.
 */
const ERASURE_INGEST_LOCK = `hashtextextended('identgate-erasure-ingest', 0)`;
export const ERASURE_EXCLUSIVE = `SELECT pg_advisory_xact_lock(${ERASURE_INGEST_LOCK})`;
export const ERASURE_SHARED = `SELECT pg_advisory_xact_lock_shared(${ERASURE_INGEST_LOCK})`;

/** A person id or badge an event names, with its hash under the tombstones' key. */
export interface NamedId {
  kind: TombstoneKind;
  value: string;
  digest: Buffer;
}

/**
 * Which of these ids are erased, with the time of the erasure: a tombstone holds its hash and it has not been enrolled again
 * since (a badge handed to someone else, a person who came back: their events are theirs). One
 * statement, a primary-key lookup per id.
 */
export async function erasedAmong(db: Queryable, ids: readonly NamedId[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const found = await db.query<{ i: string; erased_at: Date }>(
    `SELECT n.i::text, t.erased_at FROM unnest($1::bytea[], $2::text[], $3::text[]) WITH ORDINALITY AS n(digest, kind, value, i)
       JOIN erasure_tombstones t ON t.digest = n.digest
      WHERE NOT (n.kind = 'person' AND EXISTS (SELECT 1 FROM people p WHERE p.id = n.value))
        AND NOT (n.kind = 'badge' AND EXISTS (SELECT 1 FROM badges b WHERE b.badge = n.value))`,
    [ids.map((id) => id.digest), ids.map((id) => id.kind), ids.map((id) => id.value)],
  );
  return new Map(
    found.rows.map((row) => [idKey(ids[Number(row.i) - 1] as NamedId), row.erased_at.getTime()]),
  );
}

/** A NamedId as a set member. */
export function idKey(id: Pick<NamedId, 'kind' | 'value'>): string {
  return `${id.kind}\u0000${id.value}`;
}
