import type { ClientBase, Pool } from 'pg';

/** Anything to run a query on: the pool, or one connection (from the pool or of its own). */
export type Queryable = Pool | ClientBase;

import { type Clock, systemClock } from '../../lib/clock.js';
import type { Envelope } from '../../protocol/envelope.js';
import { arrayLiteral } from './database.js';
import { ensureEventPartitions } from './event-partitions.js';
import { type EventFilter, eventSearchCondition } from './event-search.js';

/** An event as the dashboard stores and serves it. */
export interface StoredEvent {
  id: string;
  ingestNo: number;
  kind: string;
  site: string;
  gateway: string;
  seq: number;
  occurredAt: string;
  receivedAt: string;
  door: string | null;
  person: string | null;
  data: Record<string, unknown>;
}

interface EventRow {
  id: string;
  ingest_no: string;
  kind: string;
  site: string;
  gateway: string;
  seq: string;
  occurred_at: Date;
  received_at: Date;
  door: string | null;
  person: string | null;
  data: Record<string, unknown>;
}

const COLUMNS = 'id, ingest_no, kind, site, gateway, seq, occurred_at, received_at, door, person, data';

function fromRow(row: EventRow): StoredEvent {
  return {
    id: row.id,
    ingestNo: Number(row.ingest_no),
    kind: row.kind,
    site: row.site,
    gateway: row.gateway,
    seq: Number(row.seq),
    occurredAt: row.occurred_at.toISOString(),
    receivedAt: row.received_at.toISOString(),
    door: row.door,
    person: row.person,
    data: row.data,
  };
}

/** An insert's envelopes with its parameters built (see EventStore.prepareInsert). */
export interface PreparedInsert {
  envelopes: readonly Envelope[];
  /** The eleven columns, then the chain digests once EventStore.digest has computed them. */
  params: Array<string | null>;
}

/**
 * Event persistence. Inserts are idempotent on the event id, so a redelivered event is stored
 * once; the partitions an insert needs are created first.
 */
export class EventStore {
  private readonly knownDays = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly clock: Clock = systemClock,
    /** How long the ingest waits to create a partition before the batch fails (and is retried). */
    private readonly partitionLockTimeoutMs = 5000,
  ) {}

  /**
   * The parameters of an insert, built now: the ingest builds them while its transaction waits
   * for its turn, so that they are not built while the database waits for the statement.
   */
  prepareInsert(envelopes: readonly Envelope[]): PreparedInsert {
    return {
      envelopes,
      params: [
        envelopes.map((e) => e.id),
        envelopes.map((e) => e.time),
        envelopes.map((e) => e.v),
        envelopes.map((e) => e.site),
        envelopes.map((e) => e.gateway),
        envelopes.map((e) => e.seq),
        envelopes.map((e) => e.kind),
        envelopes.map((e) => ('door' in e.data ? e.data.door : null)),
        envelopes.map((e) =>
          'person' in e.data && typeof e.data.person === 'string' ? e.data.person : null,
        ),
        envelopes.map((e) => JSON.stringify(e.data)),
        envelopes.map((e) => e.sig),
      ].map((column) => arrayLiteral(column)),
    };
  }

  /**
   * Computes the prepared events' chain digests in the database, with the function the chain
   * trigger would use (migration 0017), for the insert to store with them. The ingest does this
   * before its turn to insert, so that the trigger links them instead of computing them while the
   * transaction holds the locks every instance's inserts wait for.
   */
  async digest(prepared: PreparedInsert, db: Queryable = this.pool): Promise<void> {
    if (prepared.envelopes.length === 0) return;
    const result = await db.query<{ digest: string }>(
      `SELECT encode(identgate_event_digest_of(id, occurred_at, schema_version, site, gateway, seq, kind, door,
                                              person, data, signature), 'hex') AS digest
         FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::text[], $5::text[], $6::bigint[],
                     $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[])
              WITH ORDINALITY AS t(id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature, i)
        ORDER BY i`,
      prepared.params.slice(0, 11),
    );
    if (result.rows.length !== prepared.envelopes.length)
      throw new Error(`${result.rows.length} digests for ${prepared.envelopes.length} events`);
    // A bytea[] literal: each element "\\x<hex>" (hex digits need no other escaping).
    prepared.params[11] = `{${result.rows.map((row) => `"\\\\x${row.digest}"`).join(',')}}`;
  }

  /**
   * Of events sent again under the number their id holds (redeliveries), those that are not the
   * stored event: stored at their time with another number, kind, door, person, data or
   * signature. A redelivery is the same signed event, byte for byte; anything else under its id is
   * refused, not skipped. Except a two-person-rule companion an erasure replaced by `erased`, on
   * either side (the stored event, or the redelivery as the ingest redacts it), and the signature
   * that goes with it (cleared by the redaction). One not stored at its time is let be: its event may have been erased or
   * deleted by retention while its number stays used (or, undetected, it names another time).
   * Only the day partitions of the redeliveries' times are read (and locked): the times are given
   * as a constant list.
   */
  async differingFromStored(envelopes: readonly Envelope[], db: Queryable = this.pool): Promise<Envelope[]> {
    if (envelopes.length === 0) return [];
    const prepared = this.prepareInsert(envelopes);
    const result = await db.query<{ i: number }>(
      `SELECT t.i::int AS i
         FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::text[], $5::text[], $6::bigint[],
                     $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[])
              WITH ORDINALITY AS t(id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature, i)
         JOIN events e ON e.id = t.id AND e.occurred_at = t.occurred_at AND e.occurred_at = ANY($2::timestamptz[])
        WHERE (e.site, e.gateway, e.seq, e.kind, e.door, e.person, e.data - 'companion')
              IS DISTINCT FROM (t.site, t.gateway, t.seq, t.kind, t.door, t.person, t.data - 'companion')
           OR ((e.data -> 'companion', e.signature) IS DISTINCT FROM (t.data -> 'companion', t.signature)
               AND NOT 'erased' IN (coalesce(e.data ->> 'companion', ''), coalesce(t.data ->> 'companion', '')))`,
      prepared.params.slice(0, 11),
    );
    return result.rows.map((row) => envelopes[row.i - 1] as Envelope);
  }

  /**
   * Stores the prepared envelopes; returns those that were new (duplicates of stored events are
   * skipped). `db` may be a client inside a transaction. The caller creates the partitions first,
   * outside it (ensurePartitions). `inserted` is called as soon as the statement is done, before
   * its rows are read.
   */
  async insert(
    prepared: PreparedInsert,
    db: Queryable = this.pool,
    inserted?: () => void,
  ): Promise<StoredEvent[]> {
    if (prepared.envelopes.length === 0) {
      inserted?.();
      return [];
    }
    // Only what the database adds comes back; the rest is known from the envelopes.
    const result = await db.query<{ id: string; ingest_no: string; received_at: Date }>(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature,
                          chain_digest)
       SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::smallint[], $4::text[], $5::text[], $6::bigint[],
                            $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[], $12::bytea[])
       ON CONFLICT (id, occurred_at) DO NOTHING
       RETURNING id, ingest_no, received_at`,
      // Without digests (NULL, padded by unnest) the trigger computes them.
      [...prepared.params.slice(0, 11), prepared.params[11] ?? null],
    );
    inserted?.();
    const byId = new Map(prepared.envelopes.map((e) => [e.id, e]));
    return result.rows
      .map((row) => {
        const e = byId.get(row.id) as Envelope;
        const data = e.data as Record<string, unknown>;
        return {
          id: e.id,
          ingestNo: Number(row.ingest_no),
          kind: e.kind,
          site: e.site,
          gateway: e.gateway,
          seq: e.seq,
          occurredAt: new Date(e.time).toISOString(),
          receivedAt: row.received_at.toISOString(),
          door: typeof data.door === 'string' ? data.door : null,
          person: typeof data.person === 'string' ? data.person : null,
          data,
        };
      })
      .sort((a, b) => a.ingestNo - b.ingestNo);
  }

  /** Newest first; `before` is an ingest number cursor for the next page. */
  async recent(limit: number, before?: number): Promise<StoredEvent[]> {
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ($2::bigint IS NULL OR ingest_no < $2) ORDER BY ingest_no DESC LIMIT $1`,
      [limit, before ?? null],
    );
    return result.rows.map(fromRow);
  }

  /** Newest first (by ingest number), filtered; see EventFilter. */
  async search(filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    const { where, values } = eventSearchCondition(filter);
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ${where} ORDER BY ingest_no DESC LIMIT $${values.length + 1}`,
      [...values, limit],
    );
    return result.rows.map(fromRow);
  }

  /** Oldest first: what a live client missed since `afterIngestNo`. */
  async since(afterIngestNo: number, limit: number): Promise<StoredEvent[]> {
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ingest_no > $1 ORDER BY ingest_no ASC LIMIT $2`,
      [afterIngestNo, limit],
    );
    return result.rows.map(fromRow);
  }

  /** The highest ingest number stored, 0 when there is none. */
  async highestIngestNo(): Promise<number> {
    const result = await this.pool.query<{ n: string }>(
      'SELECT coalesce(max(ingest_no), 0) AS n FROM events',
    );
    return Number(result.rows[0]?.n ?? 0);
  }

  /** The events with ingest numbers from `low` to `high`, in ingest order. */
  async range(low: number, high: number): Promise<StoredEvent[]> {
    const result = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events WHERE ingest_no BETWEEN $1 AND $2 ORDER BY ingest_no ASC`,
      [low, high],
    );
    return result.rows.map(fromRow);
  }

  /** Highest sequence number and its event id per gateway, to seed replay detection after a restart. */
  async latestSequences(): Promise<Array<{ site: string; gateway: string; seq: number; id: string }>> {
    const result = await this.pool.query<{ site: string; gateway: string; seq: string; id: string }>(
      `SELECT DISTINCT ON (site, gateway) site, gateway, seq, id FROM events ORDER BY site, gateway, seq DESC`,
    );
    return result.rows.map((r) => ({ site: r.site, gateway: r.gateway, seq: Number(r.seq), id: r.id }));
  }

  async ensurePartitions(days: readonly string[]): Promise<void> {
    // Retention may drop the partition of a day older than yesterday (from any instance), so only
    // recent days count as known, when remembered and when looked up: a day remembered while
    // recent may have been dropped since, and a late event for it checks every time.
    const yesterday = new Date(this.clock.now() - 86_400_000).toISOString().slice(0, 10);
    const missing = [...new Set(days)].filter((d) => d < yesterday || !this.knownDays.has(d)).sort();
    if (missing.length === 0) return;
    for (const day of missing) {
      await ensureEventPartitions(this.pool, day, day, this.partitionLockTimeoutMs);
      if (day >= yesterday) this.knownDays.add(day);
    }
  }
}
