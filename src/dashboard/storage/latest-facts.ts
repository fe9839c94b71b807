import type { Pool } from 'pg';
import { FACETS, type Facet } from '../monitoring/overview.js';
import type { Queryable, StoredEvent } from './event-store.js';

/** The migration that created `latest_facts` (0013): when it runs, the table is filled once. */
export const LATEST_FACTS_MIGRATION = 13;

/** The only data fields the overview reads; nothing that names a person goes into the table. */
const KEPT_FIELDS = ['doors', 'active', 'occupants', 'reason', 'detail'] as const;

const FACETS_OF = new Map<string, Facet[]>();
for (const [kind, facet] of FACETS) FACETS_OF.set(kind, [...(FACETS_OF.get(kind) ?? []), facet]);

export interface FactRow {
  site: string;
  gateway: string;
  facet: Facet;
  subject: string;
  kind: string;
  occurredAt: string;
  /**
   * When the fact counts from: its time, or when it arrived if that was earlier. A gateway whose
   * clock runs ahead cannot hold a fact (or its sign of life) beyond the moment central heard it.
   */
  seenAt: string;
  ingestNo: number;
  data: Record<string, unknown>;
}

/** What a fact is about: the door, the camera, the room ('' for the gateway or the whole site). */
function subjectOf(event: StoredEvent): string | undefined {
  if (event.kind.startsWith('door.')) return event.door ?? undefined;
  if (event.kind.startsWith('camera.') || event.kind === 'video.segment') {
    const camera = event.data.camera;
    return typeof camera === 'string' ? camera : undefined;
  }
  const room = event.data.room;
  return typeof room === 'string' ? room : '';
}

function kept(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of KEPT_FIELDS) if (data[field] !== undefined) out[field] = data[field];
  return out;
}

const newer = (a: { seenAt: string; ingestNo: number }, b: { seenAt: string; ingestNo: number }) => {
  const at = Date.parse(a.seenAt) - Date.parse(b.seenAt);
  return at > 0 || (at === 0 && a.ingestNo > b.ingestNo);
};

/** The newest fact per key among `events` (one batch may hold several events of one door). */
export function factsOf(events: readonly StoredEvent[]): FactRow[] {
  const newest = new Map<string, FactRow>();
  for (const event of events) {
    const facets = FACETS_OF.get(event.kind);
    if (!facets) continue;
    const subject = subjectOf(event);
    if (subject === undefined) continue;
    for (const facet of facets) {
      const row: FactRow = {
        site: event.site,
        gateway: event.gateway,
        facet,
        subject,
        kind: event.kind,
        occurredAt: event.occurredAt,
        seenAt:
          Date.parse(event.receivedAt) < Date.parse(event.occurredAt) ? event.receivedAt : event.occurredAt,
        ingestNo: event.ingestNo,
        data: kept(event.data),
      };
      const key = `${row.site}\u0000${row.gateway}\u0000${facet}\u0000${subject}`;
      const known = newest.get(key);
      if (!known || newer(row, known)) newest.set(key, row);
    }
  }
  return [...newest.values()];
}

/**
 * The overview's facts, kept current by the ingest: an event replaces a fact only when it is newer
 * (by occurrence, or arrival where that was earlier, then ingest order), so late and resent
 * events never turn a state back.
 */
export class LatestFactsStore {
  constructor(private readonly pool: Pool) {}

  async apply(events: readonly StoredEvent[], db: Queryable = this.pool): Promise<void> {
    const rows = factsOf(events);
    if (rows.length === 0) return;
    await db.query(
      `INSERT INTO latest_facts AS f (site, gateway, facet, subject, kind, occurred_at, ingest_no, data, seen_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                            $7::bigint[], $8::jsonb[], $9::timestamptz[])
       ON CONFLICT (site, gateway, facet, subject) DO UPDATE
         SET kind = EXCLUDED.kind, occurred_at = EXCLUDED.occurred_at, ingest_no = EXCLUDED.ingest_no,
             data = EXCLUDED.data, seen_at = EXCLUDED.seen_at
       WHERE (f.seen_at, f.ingest_no) < (EXCLUDED.seen_at, EXCLUDED.ingest_no)`,
      [
        rows.map((r) => r.site),
        rows.map((r) => r.gateway),
        rows.map((r) => r.facet),
        rows.map((r) => r.subject),
        rows.map((r) => r.kind),
        rows.map((r) => r.occurredAt),
        rows.map((r) => r.ingestNo),
        rows.map((r) => JSON.stringify(r.data)),
        rows.map((r) => r.seenAt),
      ],
    );
  }

  /**
   * Fills the table from the stored events of the last `days` (at start: a database upgraded
   * from a version without it, or restored from a backup, gets its facts back).
   */
  async rebuild(days: number): Promise<void> {
    const kinds = FACETS.map(([kind]) => kind);
    const { rows } = await this.pool.query<{
      id: string;
      ingest_no: string;
      kind: string;
      site: string;
      gateway: string;
      occurred_at: Date;
      received_at: Date;
      door: string | null;
      data: Record<string, unknown>;
    }>(
      `SELECT DISTINCT ON (site, gateway, kind, door, data ->> 'camera', data ->> 'room')
              id, ingest_no, kind, site, gateway, occurred_at, received_at, door, data
         FROM events
        WHERE occurred_at >= now() - make_interval(days => $1) AND kind = ANY($2::text[])
        ORDER BY site, gateway, kind, door, data ->> 'camera', data ->> 'room',
                 least(occurred_at, received_at) DESC, ingest_no DESC`,
      [days, kinds],
    );
    const events: StoredEvent[] = rows.map((r) => ({
      id: r.id,
      ingestNo: Number(r.ingest_no),
      kind: r.kind,
      site: r.site,
      gateway: r.gateway,
      seq: 0,
      occurredAt: r.occurred_at.toISOString(),
      receivedAt: r.received_at.toISOString(),
      door: r.door,
      person: null,
      data: r.data,
    }));
    for (let i = 0; i < events.length; i += 1000) await this.apply(events.slice(i, i + 1000));
  }
}
