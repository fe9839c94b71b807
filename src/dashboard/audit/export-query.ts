import { CodedError } from '../../lib/coded-error.js';
import { AuditErrorCode } from './audit-errors.js';

/**
 * What an auditor's export selects, checked, and the one SQL query that answers it. COPY takes
 * no bind parameters, so every value is validated against its alphabet first and then quoted as a
 * literal; the time range stays a plain range on `occurred_at` so day partitions are pruned.
 */
export interface ExportQuery {
  /** Inclusive, ISO 8601 (UTC, milliseconds; microseconds where the request gave them). */
  from: string;
  /** Exclusive. */
  to: string;
  site?: string;
  door?: string;
  person?: string;
  /** Kinds or kind prefixes (`access`, `access.denied`, `door`); all but video.* and camera.* when absent. */
  kinds?: string[];
}

export type ExportFormat = 'csv' | 'jsonl';

/** The columns of every exported row, in file order. */
export const EXPORT_COLUMNS = [
  'when',
  'site',
  'room',
  'door',
  'reader',
  'direction',
  'person',
  'badge',
  'decision',
  'reason',
  'event_id',
  'gateway',
  'sequence',
  'clip',
  'kind',
  'chain_no',
  'chain_hash',
] as const;

/** Columns written as JSON numbers in JSONL. */
export const NUMERIC_COLUMNS: ReadonlySet<string> = new Set(['sequence', 'chain_no']);

/** Footage is linked to its event by the gateway within minutes; a week covers a long outage. */
export const FOOTAGE_LINK_DAYS = 7;

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const KIND = /^[a-z][a-z-]*(\.[a-z][a-z-]*)?$/;

function invalid(message: string): CodedError {
  return new CodedError(AuditErrorCode.invalid, message);
}

/**
 * A plain day (`2026-03-01`: its start in UTC) or a time with its zone (`Z` or `±hh:mm`); a
 * time without one would be read in the server's zone, which the auditor may not know. Seconds
 * and fractions up to microseconds (the events' precision) are optional. A date that does not
 * exist (`2026-02-30`) is refused, not rolled over.
 */
const TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|([+-])(\d{2}):(\d{2})))?$/i;

function time(value: unknown, name: string): string {
  const match = typeof value === 'string' ? TIME.exec(value) : null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', , sign, zh = '0', zm = '0'] = match ?? [];
  if (!match)
    throw invalid(
      `${name} must be an ISO 8601 day (2026-03-01, from 00:00 UTC) or time with its zone (2026-03-01T12:00:00Z, 2026-03-01T13:00+01:00)`,
    );
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s));
  const exists =
    date.getUTCFullYear() === Number(y) &&
    date.getUTCMonth() === Number(mo) - 1 &&
    date.getUTCDate() === Number(d) &&
    date.getUTCHours() === Number(h) &&
    date.getUTCMinutes() === Number(mi) &&
    date.getUTCSeconds() === Number(s) &&
    Number(zh) <= 23 &&
    Number(zm) <= 59;
  if (!exists) throw invalid(`${name}: ${String(value)} is not a date and time that exists`);
  const micros = fraction.padEnd(6, '0');
  const offset = (sign === '-' ? -1 : 1) * (Number(zh) * 60 + Number(zm)) * 60_000;
  const iso = new Date(date.getTime() + Number(micros.slice(0, 3)) - offset).toISOString();
  if (!/^\d{4}-/.test(iso)) throw invalid(`${name}: ${String(value)} is out of range`);
  // Milliseconds as before; microseconds where the time gives them, so no event is cut off.
  return micros.endsWith('000') ? iso : `${iso.slice(0, 23)}${micros.slice(3)}Z`;
}

/** An ISO time of `time` with six decimals, so that two compare as text. */
const inMicros = (iso: string) => (iso.length === 24 ? `${iso.slice(0, 23)}000Z` : iso);

/** Checks and normalises a request; throws IDG_AUDIT_INVALID naming the field. */
export function checkExportQuery(input: {
  from?: unknown;
  to?: unknown;
  site?: unknown;
  door?: unknown;
  person?: unknown;
  kinds?: unknown;
}): ExportQuery {
  if (input.from === undefined || input.to === undefined) throw invalid('an export needs --from and --to');
  const from = time(input.from, 'from');
  const to = time(input.to, 'to');
  if (inMicros(from) >= inMicros(to)) throw invalid('from must be before to');
  const query: ExportQuery = { from, to };
  for (const field of ['site', 'door', 'person'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !ID.test(value)) {
      throw invalid(
        `${field} must be an id (letters, digits, _ and -, up to 64), not ${JSON.stringify(value)}`,
      );
    }
    query[field] = value;
  }
  if (input.kinds !== undefined) {
    const kinds = input.kinds;
    if (
      !Array.isArray(kinds) ||
      kinds.length === 0 ||
      !kinds.every((k) => typeof k === 'string' && KIND.test(k))
    ) {
      throw invalid('kind must be an event kind or its prefix (access, access.denied, door.forced)');
    }
    query.kinds = [...kinds] as string[];
  }
  return query;
}

/** The condition on `events e`; `quote` is the connection's literal escaper. */
export function exportWhere(query: ExportQuery, quote: (value: string) => string): string {
  const where = [
    `e.occurred_at >= ${quote(query.from)}::timestamptz`,
    `e.occurred_at < ${quote(query.to)}::timestamptz`,
  ];
  if (query.site) where.push(`e.site = ${quote(query.site)}`);
  if (query.door) where.push(`e.door = ${quote(query.door)}`);
  if (query.person) where.push(`e.person = ${quote(query.person)}`);
  if (query.kinds) {
    const each = query.kinds.map((k) => `e.kind = ${quote(k)} OR starts_with(e.kind, ${quote(`${k}.`)})`);
    where.push(`(${each.join(' OR ')})`);
  } else where.push(`NOT starts_with(e.kind, 'video.') AND NOT starts_with(e.kind, 'camera.')`);
  return where.join('\n   AND ');
}

/** What a caller adds to the export's SELECT after its columns (bundle-content.ts: each row's chained text). */
export interface ExportSqlExtra {
  columns: string;
  joins: string;
}

/** The SELECT behind both formats, in file order; `extra` columns follow the exported ones. */
export function exportSql(
  query: ExportQuery,
  quote: (value: string) => string,
  extra?: ExportSqlExtra,
): string {
  return `SELECT to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "when",
       e.site, d.room, e.door,
       CASE WHEN e.data ? 'direction' THEN e.door || '/' || (e.data ->> 'direction') END AS reader,
       e.data ->> 'direction' AS direction, e.person, e.data ->> 'badge' AS badge,
       CASE e.kind WHEN 'access.granted' THEN 'granted' WHEN 'access.denied' THEN 'denied' END AS decision,
       e.data ->> 'reason' AS reason, e.id AS event_id, e.gateway, e.seq AS sequence,
       f.clip,
       e.kind, c.no AS chain_no, encode(c.hash, 'hex') AS chain_hash${extra ? `,\n       ${extra.columns}` : ''}
  FROM events e
  LEFT JOIN doors d ON d.site = e.site AND d.id = e.door
  LEFT JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text AND c.at = e.occurred_at${extra ? `\n  ${extra.joins}` : ''}
  LEFT JOIN (SELECT DISTINCT ON (l.data ->> 'event', l.site, l.gateway) l.data ->> 'event' AS event,
                    l.site, l.gateway, (l.data ->> 'camera') || '/' || (l.data -> 'clip' ->> 'id') AS clip
               FROM events l
              WHERE l.kind = 'video.footage-linked' AND l.data ? 'clip'
                AND l.occurred_at >= ${quote(query.from)}::timestamptz
                AND l.occurred_at < ${quote(query.to)}::timestamptz + interval '${FOOTAGE_LINK_DAYS} days'
              ORDER BY l.data ->> 'event', l.site, l.gateway, l.occurred_at) f
         -- Only the event's own gateway links its footage: any gateway can name any event.
         ON f.event = e.id::text AND f.site = e.site AND f.gateway = e.gateway
 WHERE ${exportWhere(query, quote)}
 ORDER BY e.occurred_at, e.id`;
}
