import type { Pool } from 'pg';
import type { Envelope } from '../../protocol/envelope.js';
import {
  type AlarmType,
  type EventData,
  INCIDENT_ALARMS,
  type Severity,
} from '../../protocol/event-kinds.js';
import { writeAudit } from '../audit/audit-log.js';
import type { AlarmView } from '../http/schemas.js';
import { AlarmReports, type ConditionsReport } from './alarm-reports.js';
import { storableText } from './database.js';
import type { Queryable } from './event-store.js';

/**
 * Alarms as the central side keeps them: raised by gateways (from their `alarm.*` events) or by
 * the central side itself (quarantined payloads, sequence gaps). One open row per condition;
 * repeats count occurrences. Staff move an alarm from active to acknowledged to resolved; a
 * condition that comes back after it cleared is a new row.
 *
 * Every change returns the rows it changed, so that the caller can push them to live clients
 * once its transaction has committed.
 */
export type { AlarmView };

export type AlarmStateFilter = 'open' | 'active' | 'acknowledged' | 'resolved' | 'all';

export interface AlarmQuery {
  state: AlarmStateFilter;
  severity?: Severity;
  site?: string;
  limit: number;
  /** An alarm id: only older alarms (the next page). */
  before?: number;
}

/** The outcome of a staff action on an alarm; a refusal says why in words staff understand. */
export type AlarmChange =
  | { ok: true; alarm: AlarmView }
  | { ok: false; reason: 'not-found'; message: string }
  | { ok: false; reason: 'conflict'; message: string; alarm: AlarmView };

interface Row {
  id: string;
  source: 'gateway' | 'central';
  site: string | null;
  gateway: string | null;
  alarm: string;
  key: string;
  severity: Severity;
  door: string | null;
  detail: string | null;
  occurrences: number;
  state: 'active' | 'acknowledged' | 'resolved';
  raised_at: Date;
  last_seen_at: Date;
  cleared_at: Date | null;
  cleared_detail: string | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  ack_comment: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolve_comment: string | null;
}

const iso = (date: Date | null): string | null => date?.toISOString() ?? null;

const fromRow = (r: Row): AlarmView => ({
  id: Number(r.id),
  source: r.source,
  site: r.site,
  gateway: r.gateway,
  door: r.door,
  alarm: r.alarm,
  severity: r.severity,
  detail: r.detail,
  occurrences: r.occurrences,
  state: r.state,
  raisedAt: r.raised_at.toISOString(),
  lastSeenAt: r.last_seen_at.toISOString(),
  clearedAt: iso(r.cleared_at),
  clearedDetail: r.cleared_detail,
  acknowledgedAt: iso(r.acknowledged_at),
  acknowledgedBy: r.acknowledged_by,
  ackComment: r.ack_comment,
  resolvedAt: iso(r.resolved_at),
  resolvedBy: r.resolved_by,
  resolveComment: r.resolve_comment,
});

const STATES: Record<AlarmStateFilter, readonly string[] | null> = {
  open: ['active', 'acknowledged'],
  active: ['active'],
  acknowledged: ['acknowledged'],
  resolved: ['resolved'],
  all: null,
};

export interface CentralAlarm {
  alarm: AlarmType;
  key: string;
  severity: Severity;
  site?: string;
  gateway?: string;
  detail?: string;
}

export class AlarmStore {
  /** The gateways' reports of the conditions they hold (`alarm.conditions`). */
  readonly reports: AlarmReports;

  constructor(private readonly pool: Pool) {
    this.reports = new AlarmReports(pool);
  }

  /**
   * Applies the alarm events among `events` (gateway alarms), inside the ingest's transaction.
   * Events may come late (a backlog, a resend after a gap), so their sequence numbers decide: a
   * clearing ends only what was raised below it, a report only what was raised below it and it
   * does not list, and a raising below a report that did not list it opens nothing (it ended).
   */
  async applyGatewayEvents(events: readonly Envelope[], db: Queryable): Promise<AlarmView[]> {
    const changed: AlarmView[] = [];
    for (const event of events) {
      const { site, gateway, seq } = event;
      if (event.kind === 'alarm.raised') {
        if (await this.reports.outdates(site, gateway, seq, event.data.key, db)) continue;
        changed.push(
          ...(await this.raise('gateway', site, gateway, event.data, db, { event: event.id, seq })),
        );
      } else if (event.kind === 'alarm.cleared') {
        const { key, detail } = event.data;
        changed.push(...(await this.clear('gateway', site, gateway, key, db, { seq, detail })));
      } else if (event.kind === 'alarm.conditions') changed.push(...(await this.applyReport(event, db)));
    }
    return changed;
  }

  raiseCentral(alarm: CentralAlarm, db: Queryable = this.pool): Promise<AlarmView[]> {
    return this.raise('central', alarm.site ?? null, alarm.gateway ?? null, alarm, db);
  }

  /** Raises the alarm only when none with its key is open; a repeat changes nothing (empty). */
  raiseCentralUnlessOpen(alarm: CentralAlarm, db: Queryable = this.pool): Promise<AlarmView[]> {
    return this.raise('central', alarm.site ?? null, alarm.gateway ?? null, alarm, db, {}, false);
  }

  clearCentral(
    key: string,
    site: string | null,
    gateway: string | null,
    db: Queryable = this.pool,
  ): Promise<AlarmView[]> {
    return this.clear('central', site, gateway, key, db);
  }

  /**
   * Clears a central alarm by its key at whatever site it was raised: for keys that name something
   * unique across sites (a workstation), which may have moved to another site since.
   */
  async clearCentralAnySite(key: string, db: Queryable = this.pool): Promise<AlarmView[]> {
    const result = await db.query<Row>(
      `UPDATE alarms SET cleared_at = now() WHERE source = 'central' AND key = $1 AND cleared_at IS NULL RETURNING *`,
      [key],
    );
    return result.rows.map(fromRow);
  }

  /**
   * Clears every open central alarm of one type, whatever its key and site: for a condition only
   * a running instance knows of, left open by one that stopped without clearing it.
   */
  async clearCentralOfType(alarm: AlarmType, db: Queryable = this.pool): Promise<AlarmView[]> {
    const result = await db.query<Row>(
      `UPDATE alarms SET cleared_at = now() WHERE source = 'central' AND alarm = $1 AND cleared_at IS NULL RETURNING *`,
      [alarm],
    );
    return result.rows.map(fromRow);
  }

  /**
   * Clears every condition a gateway raised that is still open (its incidents stay for staff):
   * for a gateway that was retired, which nothing will report on any more.
   */
  async clearGatewayConditions(
    site: string,
    gateway: string,
    detail: string,
    db: Queryable,
  ): Promise<AlarmView[]> {
    const result = await db.query<Row>(
      `UPDATE alarms SET cleared_at = now(), cleared_detail = $4
        WHERE source = 'gateway' AND site = $1 AND gateway = $2 AND cleared_at IS NULL
          AND NOT (alarm = ANY($3::text[]))
        RETURNING *`,
      [site, gateway, [...INCIDENT_ALARMS], storableText(detail)],
    );
    return result.rows.map(fromRow);
  }

  /** Newest first. */
  async list(query: AlarmQuery): Promise<AlarmView[]> {
    const result = await this.pool.query<Row>(
      `SELECT * FROM alarms
        WHERE ($1::text[] IS NULL OR state = ANY($1)) AND ($2::text IS NULL OR severity = $2)
          AND ($3::text IS NULL OR site = $3) AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $5`,
      [STATES[query.state], query.severity ?? null, query.site ?? null, query.before ?? null, query.limit],
    );
    return result.rows.map(fromRow);
  }

  /** The alarms with these ids as they stand now, in id order. */
  async byIds(ids: readonly number[]): Promise<AlarmView[]> {
    const result = await this.pool.query<Row>(
      'SELECT * FROM alarms WHERE id = ANY($1::bigint[]) ORDER BY id',
      [ids],
    );
    return result.rows.map(fromRow);
  }

  /** The alarms raised, repeated, cleared, acknowledged or resolved since `since`, in id order. */
  async changedSince(since: Date): Promise<AlarmView[]> {
    const result = await this.pool.query<Row>(
      `SELECT * FROM alarms
        WHERE greatest(raised_at, last_seen_at, cleared_at, acknowledged_at) >= $1 OR resolved_at >= $1
        ORDER BY id`,
      [since],
    );
    return result.rows.map(fromRow);
  }

  async get(id: number): Promise<AlarmView | undefined> {
    const result = await this.pool.query<Row>('SELECT * FROM alarms WHERE id = $1', [id]);
    return result.rows[0] ? fromRow(result.rows[0]) : undefined;
  }

  /** Active → acknowledged. `db` should be a transaction that also records the audit entry. */
  async acknowledge(id: number, by: string, comment: string, db: Queryable): Promise<AlarmChange> {
    const current = await this.lock(id, db);
    if (!current) return { ok: false, reason: 'not-found', message: `no alarm ${id}` };
    if (current.state !== 'active') {
      const message =
        current.state === 'acknowledged'
          ? `alarm ${id} was acknowledged already by ${current.acknowledged_by}`
          : `alarm ${id} is resolved already`;
      return { ok: false, reason: 'conflict', message, alarm: fromRow(current) };
    }
    const result = await db.query<Row>(
      `UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2, ack_comment = $3
        WHERE id = $1 RETURNING *`,
      [id, by, storableText(comment)],
    );
    return { ok: true, alarm: fromRow(result.rows[0] as Row) };
  }

  /**
   * Acknowledged → resolved, once the condition has cleared (an incident counts as over at once).
   * Resolving an incident also closes it, so that its next occurrence is a new alarm.
   */
  async resolve(id: number, by: string, comment: string, db: Queryable): Promise<AlarmChange> {
    const current = await this.lock(id, db);
    if (!current) return { ok: false, reason: 'not-found', message: `no alarm ${id}` };
    const refuse = (message: string): AlarmChange => ({
      ok: false,
      reason: 'conflict',
      message,
      alarm: fromRow(current),
    });
    if (current.state === 'active')
      return refuse(`alarm ${id} is not acknowledged yet; acknowledge it first`);
    if (current.state === 'resolved') return refuse(`alarm ${id} is resolved already`);
    if (current.cleared_at === null && !INCIDENT_ALARMS.has(current.alarm)) {
      return refuse(
        `the condition of alarm ${id} (${current.alarm.replaceAll('-', ' ')}) still holds; resolve it once it has cleared`,
      );
    }
    const result = await db.query<Row>(
      `UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = $2, resolve_comment = $3,
                         cleared_at = coalesce(cleared_at, now())
        WHERE id = $1 RETURNING *`,
      [id, by, storableText(comment)],
    );
    return { ok: true, alarm: fromRow(result.rows[0] as Row) };
  }

  private async lock(id: number, db: Queryable): Promise<Row | undefined> {
    return (await db.query<Row>('SELECT * FROM alarms WHERE id = $1 FOR UPDATE', [id])).rows[0];
  }

  private async raise(
    source: 'gateway' | 'central',
    site: string | null,
    gateway: string | null,
    alarm: Pick<EventData<'alarm.raised'>, 'alarm' | 'key' | 'severity' | 'detail'> & { door?: string },
    db: Queryable,
    by: { event?: string; seq?: number } = {},
    repeats = true,
  ): Promise<AlarmView[]> {
    const onRepeat = repeats
      ? `DO UPDATE SET occurrences = alarms.occurrences + 1, last_seen_at = now(),
                     detail = coalesce(EXCLUDED.detail, alarms.detail),
                     raised_seq = greatest(alarms.raised_seq, EXCLUDED.raised_seq),
                     state = CASE WHEN $11 AND alarms.state = 'acknowledged' THEN 'active' ELSE alarms.state END`
      : 'DO NOTHING';
    const result = await db.query<Row>(
      `INSERT INTO alarms (source, site, gateway, alarm, key, severity, door, detail, event_id, raised_seq)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (source, coalesce(site, ''), coalesce(gateway, ''), key) WHERE cleared_at IS NULL
       ${onRepeat}
       RETURNING *`,
      [
        source,
        site,
        gateway,
        alarm.alarm,
        storableText(alarm.key),
        alarm.severity,
        alarm.door ?? null,
        alarm.detail === undefined ? null : storableText(alarm.detail),
        by.event ?? null,
        by.seq ?? null,
        ...(repeats ? [INCIDENT_ALARMS.has(alarm.alarm)] : []),
      ],
    );
    return result.rows.map(fromRow);
  }

  /**
   * The condition ended; the alarm stays until staff resolve it. A gateway's clearing (`by.seq`)
   * ends only a raising numbered below it: one that comes late does not end a later raising.
   */
  private async clear(
    source: 'gateway' | 'central',
    site: string | null,
    gateway: string | null,
    key: string,
    db: Queryable,
    by: { seq?: number; detail?: string } = {},
  ): Promise<AlarmView[]> {
    const result = await db.query<Row>(
      `UPDATE alarms SET cleared_at = now(), cleared_detail = $5
        WHERE source = $1 AND coalesce(site, '') = coalesce($2, '') AND coalesce(gateway, '') = coalesce($3, '')
          AND key = $4 AND cleared_at IS NULL AND ($6::bigint IS NULL OR raised_seq IS NULL OR raised_seq < $6)
        RETURNING *`,
      [source, site, gateway, key, by.detail === undefined ? null : storableText(by.detail), by.seq ?? null],
    );
    return result.rows.map(fromRow);
  }

  /**
   * A gateway's report of the conditions it holds: its open conditions raised below the report
   * and not in it have ended, and are cleared, with a detail that says so and an audit entry.
   * Incidents stay for staff to resolve, central alarms are the central side's own.
   */
  private async applyReport(report: ConditionsReport, db: Queryable): Promise<AlarmView[]> {
    const listed = await this.reports.record(report, db);
    if (!listed) return [];
    const { site, gateway, seq } = report;
    const open = await db.query<{ id: string; key: string }>(
      `SELECT id, key FROM alarms
        WHERE source = 'gateway' AND site = $1 AND gateway = $2 AND cleared_at IS NULL
          AND NOT (alarm = ANY($3::text[])) AND (raised_seq IS NULL OR raised_seq < $4)
        ORDER BY id FOR UPDATE`,
      [site, gateway, [...INCIDENT_ALARMS], seq],
    );
    const ended = open.rows.filter((r) => !listed(r.key)).map((r) => r.id);
    if (ended.length === 0) return [];
    const result = await db.query<Row>(
      `UPDATE alarms SET cleared_at = now(), cleared_detail = $2 WHERE id = ANY($1::bigint[]) RETURNING *`,
      [
        ended,
        `the gateway reported the condition ended: its report of the conditions it holds (event ${seq}) does not list it`,
      ],
    );
    const cleared = result.rows.map(fromRow);
    await writeAudit(db, {
      actor: 'system',
      action: 'alarm.cleared-by-report',
      target: `${site}/${gateway}`,
      details: {
        event: report.id,
        seq,
        alarms: cleared.map((a) => ({ id: a.id, alarm: a.alarm })),
      },
    });
    return cleared;
  }
}
