import type { Pool } from 'pg';
import type { Envelope } from '../../protocol/envelope.js';
import type { Queryable } from './event-store.js';

/**
 * Every sequence number a gateway used, with its event id. Claiming a batch tells apart new
 * events, redeliveries of stored ones, and replays (a used number with a different event); it
 * runs in the ingest's transaction, so several dashboard instances agree. Numbers up to a
 * gateway's `retired_through` belonged to events that retention deleted: they stay used.
 */
export interface SequenceClaims<T extends NumberUse = Envelope> {
  fresh: T[];
  duplicates: T[];
  replays: Array<{ envelope: T; knownId: string }>;
  /** Duplicates whose number is held by an event kept in quarantine, not by a stored one. */
  heldInQuarantine: Set<T>;
  /** Duplicates of an earlier item of the same claim, with that item. */
  sameBatch: Map<T, T>;
}

/** What a claim reads of an event: whose number it is, and the event's id. */
export type NumberUse = Pick<Envelope, 'site' | 'gateway' | 'seq' | 'id'>;

/** An event's number use, without the rest of the event. */
export function numberUseOf({ site, gateway, seq, id }: NumberUse): NumberUse {
  return { site, gateway, seq, id };
}

export interface GapReport {
  site: string;
  gateway: string;
  /** Everything up to here is present. */
  contiguousThrough: number;
  highest: number;
  /** The first missing range, when there is one. */
  missingFrom?: number;
  missingTo?: number;
  gapSince: Date | null;
  resendRequestedAt: Date | null;
  /** The last sequence number of the range asked for last time. */
  resendRequestedTo: number | null;
}

export class SequenceStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Claims each item's number for its event id. Items in `quarantined` are events their gateway
   * signed that are quarantined all the same: their numbers are taken, marked as held there.
   */
  async claim<T extends NumberUse>(
    envelopes: readonly T[],
    db: Queryable,
    quarantined: ReadonlySet<T> = new Set(),
  ): Promise<SequenceClaims<T>> {
    const claims: SequenceClaims<T> = {
      fresh: [],
      duplicates: [],
      replays: [],
      heldInQuarantine: new Set(),
      sameBatch: new Map(),
    };
    // The same number twice in one batch: the first decides, the rest compare with it.
    const first = new Map<string, T>();
    const unique: T[] = [];
    for (const envelope of envelopes) {
      const key = `${envelope.site}/${envelope.gateway}/${envelope.seq}`;
      const earlier = first.get(key);
      if (!earlier) {
        first.set(key, envelope);
        unique.push(envelope);
      } else if (earlier.id === envelope.id) {
        claims.duplicates.push(envelope);
        claims.sameBatch.set(envelope, earlier);
      } else claims.replays.push({ envelope, knownId: earlier.id });
    }
    if (unique.length === 0) return claims;
    // Rows are locked in key order, so that overlapping batches committing at once cannot deadlock.
    unique.sort((a, b) =>
      a.site < b.site
        ? -1
        : a.site > b.site
          ? 1
          : a.gateway < b.gateway
            ? -1
            : a.gateway > b.gateway
              ? 1
              : a.seq - b.seq,
    );
    const columns = (envelopes: readonly T[]) => [
      envelopes.map((e) => e.site),
      envelopes.map((e) => e.gateway),
      envelopes.map((e) => e.seq),
      envelopes.map((e) => e.id),
      envelopes.map((e) => quarantined.has(e)),
    ];
    // Only the numbers that were taken already come back: usually none, so the common case costs
    // one index insert per event and no look-up (half the time of joining every row back).
    const taken = await db.query<{ i: number }>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[], $5::boolean[])
                WITH ORDINALITY AS t(site, gateway, seq, event_id, quarantined, i)
       ), ins AS (
         INSERT INTO event_sequences (site, gateway, seq, event_id, quarantined)
         SELECT input.site, input.gateway, input.seq, input.event_id, input.quarantined FROM input
           LEFT JOIN gateway_sequences g ON g.site = input.site AND g.gateway = input.gateway
          WHERE g.retired_through IS NULL OR input.seq > g.retired_through
         ON CONFLICT DO NOTHING
         RETURNING site, gateway, seq
       )
       SELECT input.i::int AS i FROM input
        WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.site = input.site AND ins.gateway = input.gateway AND ins.seq = input.seq)`,
      columns(unique),
    );
    const refused = new Set(taken.rows.map((row) => row.i - 1));
    const others = unique.filter((_, index) => refused.has(index));
    for (const [index, envelope] of unique.entries()) if (!refused.has(index)) claims.fresh.push(envelope);
    if (others.length > 0) {
      // Which event holds each number; a separate statement, so it also sees a claim that
      // another dashboard instance committed while this one waited on it.
      const known = await db.query<{ i: number; known_id: string | null; held_in_quarantine: boolean }>(
        `SELECT input.i::int AS i, coalesce(es.quarantined, false) AS held_in_quarantine,
                coalesce(es.event_id::text, CASE WHEN input.seq <= g.retired_through THEN 'one deleted by retention' END) AS known_id
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[], $5::boolean[])
                WITH ORDINALITY AS input(site, gateway, seq, event_id, quarantined, i)
           LEFT JOIN event_sequences es ON es.site = input.site AND es.gateway = input.gateway AND es.seq = input.seq
           LEFT JOIN gateway_sequences g ON g.site = input.site AND g.gateway = input.gateway`,
        columns(others),
      );
      for (const row of known.rows) {
        const envelope = others[row.i - 1] as T;
        if (row.known_id === envelope.id) {
          claims.duplicates.push(envelope);
          if (row.held_in_quarantine) claims.heldInQuarantine.add(envelope);
        } else claims.replays.push({ envelope, knownId: row.known_id ?? 'unknown' });
      }
    }
    return claims;
  }

  /**
   * Of numbers `claim` found held in quarantine by the same id, those still held: locked until
   * the commit, so that of two transactions with the event only one stores it (the other waits
   * here, and then finds it stored).
   */
  async lockHeld<T extends NumberUse>(uses: readonly T[], db: Queryable): Promise<T[]> {
    if (uses.length === 0) return [];
    const result = await db.query<{ i: number }>(
      `SELECT t.i::int AS i
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[]) WITH ORDINALITY AS t(site, gateway, seq, event_id, i)
         JOIN event_sequences es
           ON es.site = t.site AND es.gateway = t.gateway AND es.seq = t.seq AND es.event_id = t.event_id
        WHERE es.quarantined
        ORDER BY t.site, t.gateway, t.seq
          FOR UPDATE OF es`,
      [uses.map((u) => u.site), uses.map((u) => u.gateway), uses.map((u) => u.seq), uses.map((u) => u.id)],
    );
    return result.rows.map((row) => uses[row.i - 1] as T);
  }

  /** Numbers held in quarantine whose events are now stored (see claim, lockHeld). */
  async storedAfterAll(uses: readonly NumberUse[], db: Queryable): Promise<void> {
    if (uses.length === 0) return;
    await db.query(
      `UPDATE event_sequences es SET quarantined = false
         FROM unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[]) AS t(site, gateway, seq, event_id)
        WHERE es.site = t.site AND es.gateway = t.gateway AND es.seq = t.seq AND es.event_id = t.event_id`,
      [uses.map((u) => u.site), uses.map((u) => u.gateway), uses.map((u) => u.seq), uses.map((u) => u.id)],
    );
  }

  /**
   * Lets go of numbers claimed in this transaction for events that were refused after all (their
   * id belongs to another stored event), so that the events the numbers belong to can come.
   */
  async release(uses: readonly NumberUse[], db: Queryable): Promise<void> {
    if (uses.length === 0) return;
    await db.query(
      `DELETE FROM event_sequences es
        USING unnest($1::text[], $2::text[], $3::bigint[], $4::uuid[]) AS t(site, gateway, seq, event_id)
        WHERE es.site = t.site AND es.gateway = t.gateway AND es.seq = t.seq AND es.event_id = t.event_id`,
      [uses.map((u) => u.site), uses.map((u) => u.gateway), uses.map((u) => u.seq), uses.map((u) => u.id)],
    );
  }

  /**
   * Raises each gateway's highest number seen to the highest of `fresh` (claimed in the same
   * transaction). Separate from claim(): it locks the gateways' rows until the commit, so the
   * ingest does it last, after its events are inserted (see IngestPipeline). `announce` is a
   * NOTIFY sent in the same statement: the ingest's last one before its commit, while it holds
   * the ingest-order lock, so one round trip fewer there counts.
   *
   * Returns which of the gateways of `fresh` and `stored` (as `site/id`) were retired: a
   * transaction that has them must roll back. Their events were checked while this instance still
   * trusted them, and the retirement committed before this transaction took the ingest-order lock
   * (which retirement takes too, so the answer holds until the commit): it recorded their gaps as
   * lost without these numbers, and nothing may be stored for them now.
   */
  async noteHighest(
    fresh: readonly NumberUse[],
    db: Queryable,
    announce?: { channel: string; payload: string },
    stored: readonly NumberUse[] = [],
  ): Promise<string[]> {
    const highest = new Map<string, { site: string; gateway: string; seq: number }>();
    for (const { site, gateway, seq } of fresh) {
      const key = `${site}/${gateway}`;
      if ((highest.get(key)?.seq ?? 0) < seq) highest.set(key, { site, gateway, seq });
    }
    const gateways = new Set([...highest.keys(), ...stored.map((use) => `${use.site}/${use.gateway}`)]);
    if (gateways.size === 0 && !announce) return [];
    const rows = [...highest.values()].sort((a, b) =>
      `${a.site}/${a.gateway}` < `${b.site}/${b.gateway}` ? -1 : 1,
    );
    // A data-modifying WITH runs to its end whether or not the query reads it; both branches of
    // UNION ALL run.
    const result = await db.query<{ retired: string | null }>(
      `WITH noted AS (
         INSERT INTO gateway_sequences (site, gateway, highest)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (site, gateway) DO UPDATE SET highest = GREATEST(gateway_sequences.highest, EXCLUDED.highest)
       )
       SELECT NULL AS retired FROM (SELECT pg_notify($4, $5) WHERE $4::text IS NOT NULL) announced
       UNION ALL
       SELECT site || '/' || id FROM gateways WHERE retired_at IS NOT NULL AND site || '/' || id = ANY($6::text[])`,
      [
        rows.map((r) => r.site),
        rows.map((r) => r.gateway),
        rows.map((r) => r.seq),
        announce?.channel ?? null,
        announce?.payload ?? null,
        [...gateways],
      ],
    );
    return result.rows.flatMap((row) => (row.retired === null ? [] : [row.retired]));
  }

  /**
   * Moves each gateway's contiguous watermark forward over the numbers present and reports the
   * first missing range of every gateway that has one (`identgate_first_gap`, migration 25).
   */
  async scanGaps(): Promise<GapReport[]> {
    const result = await this.pool.query<{
      site: string;
      gateway: string;
      contiguous_through: string;
      highest: string;
      missing_from: string | null;
      missing_to: string | null;
      gap_since: Date | null;
      resend_requested_at: Date | null;
      resend_requested_to: string | null;
    }>(
      // The watermark moves up to the first gap (to the highest, when there is none), counted in
      // the UPDATE from the row as locked: a loss recorded meanwhile moved it. The gap reported
      // starts just past the new watermark, so finding it again reads one number held.
      `WITH advanced AS (
         UPDATE gateway_sequences g SET contiguous_through = coalesce(
           (SELECT gap.from_seq - 1 FROM identgate_first_gap(g.site, g.gateway, g.contiguous_through, g.highest) gap),
           g.highest)
         WHERE g.highest > g.contiguous_through
           -- A retired gateway's gaps were recorded as lost; nothing can answer for new ones.
           AND NOT EXISTS (SELECT 1 FROM gateways r
                            WHERE r.site = g.site AND r.id = g.gateway AND r.retired_at IS NOT NULL)
         RETURNING g.site, g.gateway, g.contiguous_through, g.highest, g.gap_since, g.resend_requested_at, g.resend_requested_to
       )
       SELECT a.site, a.gateway, a.contiguous_through, a.highest, a.gap_since, a.resend_requested_at, a.resend_requested_to,
              gap.from_seq AS missing_from, gap.to_seq AS missing_to
         FROM advanced a
         LEFT JOIN LATERAL identgate_first_gap(a.site, a.gateway, a.contiguous_through, a.highest) gap ON true`,
    );
    return result.rows.map((r) => ({
      site: r.site,
      gateway: r.gateway,
      contiguousThrough: Number(r.contiguous_through),
      highest: Number(r.highest),
      ...(r.missing_from !== null ? { missingFrom: Number(r.missing_from) } : {}),
      ...(r.missing_to !== null && r.missing_from !== null ? { missingTo: Number(r.missing_to) } : {}),
      gapSince: r.gap_since,
      resendRequestedAt: r.resend_requested_at,
      resendRequestedTo: r.resend_requested_to === null ? null : Number(r.resend_requested_to),
    }));
  }

  /**
   * Notes when a gap was first seen and, with `resend`, that `from`…`to` was asked for: then only
   * while the gap still starts at `from` (false otherwise). A loss recorded meanwhile (the
   * gateway's `gone:` answer to an earlier request) moved the watermark past it, and the range
   * must not be asked for again.
   */
  async markGap(
    site: string,
    gateway: string,
    since: Date | null,
    resend?: { at: Date; from: number; to: number },
  ): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE gateway_sequences SET gap_since = $3,
         resend_requested_at = coalesce($4, resend_requested_at), resend_requested_to = coalesce($5, resend_requested_to)
       WHERE site = $1 AND gateway = $2 AND ($6::bigint IS NULL OR contiguous_through = $6::bigint - 1)`,
      [site, gateway, since, resend?.at ?? null, resend?.to ?? null, resend?.from ?? null],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * Records numbers `fromSeq`…`toSeq` of a gateway as lost for good (it could not send them again
   * when asked) and moves its watermark past them, so that the scanner goes on to the next gap.
   * Only while they are still its first gap and none of them has arrived meanwhile: otherwise
   * nothing is recorded (false), and the next scan asks again for what is still missing.
   */
  async declareLost(
    site: string,
    gateway: string,
    fromSeq: number,
    toSeq: number,
    reason: string,
    db: Queryable = this.pool,
  ): Promise<boolean> {
    const result = await db.query(
      `WITH moved AS (
         UPDATE gateway_sequences g SET contiguous_through = $4, resend_requested_at = NULL, resend_requested_to = NULL
          WHERE g.site = $1 AND g.gateway = $2 AND g.contiguous_through = $3::bigint - 1
            AND NOT EXISTS (SELECT 1 FROM event_sequences s
                             WHERE s.site = $1 AND s.gateway = $2 AND s.seq BETWEEN $3 AND $4)
          RETURNING g.site, g.gateway
       )
       INSERT INTO sequence_losses (site, gateway, from_seq, to_seq, reason)
       SELECT site, gateway, $3, $4, $5 FROM moved
       RETURNING from_seq`,
      [site, gateway, fromSeq, toSeq, reason.slice(0, 500)],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * Losses more of whose events have arrived after all than counted so far: counted now (in the
   * caller's transaction, with the alarm that says so).
   */
  async lateArrivals(
    db: Queryable,
  ): Promise<
    Array<{ site: string; gateway: string; fromSeq: number; toSeq: number; arrived: number; reason: string }>
  > {
    const result = await db.query<{
      site: string;
      gateway: string;
      from_seq: string;
      to_seq: string;
      arrived: string;
      reason: string;
    }>(
      `WITH late AS (
         SELECT l.site, l.gateway, l.from_seq, count(s.seq) AS arrived
           FROM sequence_losses l
           JOIN event_sequences s ON s.site = l.site AND s.gateway = l.gateway AND s.seq BETWEEN l.from_seq AND l.to_seq
          WHERE l.arrived < l.to_seq - l.from_seq + 1
          GROUP BY l.site, l.gateway, l.from_seq, l.arrived
         HAVING count(s.seq) > l.arrived
       )
       UPDATE sequence_losses l SET arrived = late.arrived, arrived_at = now()
         FROM late
        WHERE l.site = late.site AND l.gateway = late.gateway AND l.from_seq = late.from_seq
       RETURNING l.site, l.gateway, l.from_seq, l.to_seq, l.arrived, l.reason`,
    );
    return result.rows.map((r) => ({
      site: r.site,
      gateway: r.gateway,
      fromSeq: Number(r.from_seq),
      toSeq: Number(r.to_seq),
      arrived: Number(r.arrived),
      reason: r.reason,
    }));
  }

  /** Whether the gateway's numbers have a gap now. */
  async hasGap(site: string, gateway: string): Promise<boolean> {
    const result = await this.pool.query(
      'SELECT 1 FROM gateway_sequences WHERE site = $1 AND gateway = $2 AND highest > contiguous_through',
      [site, gateway],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** Gateways whose numbers are complete again after a gap. */
  async closedGaps(): Promise<Array<{ site: string; gateway: string }>> {
    const result = await this.pool.query<{ site: string; gateway: string }>(
      `UPDATE gateway_sequences SET gap_since = NULL, resend_requested_at = NULL, resend_requested_to = NULL
        WHERE gap_since IS NOT NULL AND highest <= contiguous_through RETURNING site, gateway`,
    );
    return result.rows;
  }
}
