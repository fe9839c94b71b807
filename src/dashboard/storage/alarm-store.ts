import type { Pool } from 'pg';
import type { Envelope } from '../../protocol/envelope.js';
import type { AlarmType, EventData, Severity } from '../../protocol/event-kinds.js';
import { storableText } from './database.js';
import type { Queryable } from './event-store.js';

/**
 * Alarms as the central side keeps them: raised by gateways (from their `alarm.*` events) or by
 * the central side itself (quarantined payloads, sequence gaps). One open row per condition;
 * repeats count occurrences. Acknowledgement (who, when, comment) is the dashboard's part.
 */
export interface AlarmRow {
  id: number;
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
  raisedAt: string;
  clearedAt: string | null;
}

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
  cleared_at: Date | null;
}

const fromRow = (r: Row): AlarmRow => ({
  id: Number(r.id),
  source: r.source,
  site: r.site,
  gateway: r.gateway,
  alarm: r.alarm,
  key: r.key,
  severity: r.severity,
  door: r.door,
  detail: r.detail,
  occurrences: r.occurrences,
  state: r.state,
  raisedAt: r.raised_at.toISOString(),
  clearedAt: r.cleared_at?.toISOString() ?? null,
});

export interface CentralAlarm {
  alarm: AlarmType;
  key: string;
  severity: Severity;
  site?: string;
  gateway?: string;
  detail?: string;
}

export class AlarmStore {
  constructor(private readonly pool: Pool) {}

  /** Applies the alarm events among `events` (gateway alarms), inside the ingest's transaction. */
  async applyGatewayEvents(events: readonly Envelope[], db: Queryable): Promise<void> {
    for (const event of events) {
      if (event.kind === 'alarm.raised')
        await this.raise('gateway', event.site, event.gateway, event.data, db, event.id);
      else if (event.kind === 'alarm.cleared')
        await this.clear('gateway', event.site, event.gateway, event.data.key, db);
    }
  }

  async raiseCentral(alarm: CentralAlarm, db: Queryable = this.pool): Promise<void> {
    await this.raise('central', alarm.site ?? null, alarm.gateway ?? null, alarm, db);
  }

  async clearCentral(
    key: string,
    site: string | null,
    gateway: string | null,
    db: Queryable = this.pool,
  ): Promise<void> {
    await this.clear('central', site, gateway, key, db);
  }

  async open(limit = 200): Promise<AlarmRow[]> {
    const result = await this.pool.query<Row>(
      `SELECT * FROM alarms WHERE state <> 'resolved' ORDER BY raised_at DESC LIMIT $1`,
      [limit],
    );
    return result.rows.map(fromRow);
  }

  private async raise(
    source: 'gateway' | 'central',
    site: string | null,
    gateway: string | null,
    alarm: Pick<EventData<'alarm.raised'>, 'alarm' | 'key' | 'severity' | 'detail'> & { door?: string },
    db: Queryable,
    eventId?: string,
  ): Promise<void> {
    await db.query(
      `INSERT INTO alarms (source, site, gateway, alarm, key, severity, door, detail, event_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (source, coalesce(site, ''), coalesce(gateway, ''), key) WHERE cleared_at IS NULL
       DO UPDATE SET occurrences = alarms.occurrences + 1, last_seen_at = now(),
                     detail = coalesce(EXCLUDED.detail, alarms.detail)`,
      [
        source,
        site,
        gateway,
        alarm.alarm,
        storableText(alarm.key),
        alarm.severity,
        alarm.door ?? null,
        alarm.detail === undefined ? null : storableText(alarm.detail),
        eventId ?? null,
      ],
    );
  }

  /** The condition ended: an acknowledged alarm is resolved, an unacknowledged one stays visible. */
  private async clear(
    source: 'gateway' | 'central',
    site: string | null,
    gateway: string | null,
    key: string,
    db: Queryable,
  ): Promise<void> {
    await db.query(
      `UPDATE alarms SET cleared_at = now(), state = CASE WHEN state = 'acknowledged' THEN 'resolved' ELSE state END
        WHERE source = $1 AND coalesce(site, '') = coalesce($2, '') AND coalesce(gateway, '') = coalesce($3, '')
          AND key = $4 AND cleared_at IS NULL`,
      [source, site, gateway, key],
    );
  }
}
