import type { Pool } from 'pg';
import { conditionDigest } from '../../protocol/alarm-report.js';
import type { Envelope } from '../../protocol/envelope.js';
import type { Queryable } from './event-store.js';

/** A gateway's `alarm.conditions` event, as the ingest hands it over. */
export type ConditionsReport = Extract<Envelope, { kind: 'alarm.conditions' }>;

/** A request older than this is forgotten: a report that answers it later is stored, not applied. */
const REQUEST_KEPT = '1 day';

/**
 * The central side's half of the gateways' alarm condition reports (migration 30): the key of
 * each request's digests until its report comes, and per gateway the newest report applied.
 * A report names its conditions by digests under its request's key (alarm-report.ts); the key and
 * the digests are kept only while an event numbered below the report may still arrive, so that a
 * late raising of a condition it did not list does not open it again.
 */
export class AlarmReports {
  constructor(private readonly pool: Pool) {}

  /** Keeps the key of a request's digests; before the request is sent, as its answer may be quick. */
  async requested(command: string, site: string, gateway: string, salt: string): Promise<void> {
    await this.pool.query(
      'INSERT INTO alarm_report_requests (command, site, gateway, salt) VALUES ($1, $2, $3, $4)',
      [command, site, gateway, salt],
    );
  }

  /**
   * Takes a report in, inside the ingest's transaction. Returns which keys it lists when it decides
   * what ended: it answers a request of this central side still kept, from the gateway asked, it
   * is newer than the last report applied, and it lists every condition the gateway holds.
   */
  async record(report: ConditionsReport, db: Queryable): Promise<((key: string) => boolean) | undefined> {
    const { site, gateway, seq, id, data } = report;
    const salt = (
      await db.query<{ salt: string }>(
        `DELETE FROM alarm_report_requests WHERE command = $1 AND site = $2 AND gateway = $3
         RETURNING salt`,
        [data.request, site, gateway],
      )
    ).rows[0]?.salt;
    if (salt === undefined) return undefined;
    const complete = data.conditions.length === data.held;
    const digests = data.conditions.map((c) => c.digest);
    // A report numbered below the one applied says less than it: the newest stays.
    const stored = await db.query(
      `INSERT INTO gateway_alarm_reports (site, gateway, seq, event_id, salt, digests)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (site, gateway) DO UPDATE
         SET seq = EXCLUDED.seq, event_id = EXCLUDED.event_id, salt = EXCLUDED.salt,
             digests = EXCLUDED.digests, reported_at = now()
         WHERE gateway_alarm_reports.seq < EXCLUDED.seq`,
      [site, gateway, seq, id, complete ? salt : null, complete ? digests : null],
    );
    if (stored.rowCount === 0 || !complete) return undefined;
    const listed = new Set(digests);
    return (key) => listed.has(conditionDigest(salt, key));
  }

  /**
   * Whether the gateway's raising of `key`, numbered `seq`, comes late: a report numbered above it
   * was applied and did not list the condition, so it ended before the report.
   */
  async outdates(site: string, gateway: string, seq: number, key: string, db: Queryable): Promise<boolean> {
    const row = (
      await db.query<{ seq: string; salt: string | null; digests: string[] | null }>(
        'SELECT seq, salt, digests FROM gateway_alarm_reports WHERE site = $1 AND gateway = $2',
        [site, gateway],
      )
    ).rows[0];
    if (!row || Number(row.seq) <= seq || row.salt === null || row.digests === null) return false;
    return !row.digests.includes(conditionDigest(row.salt, key));
  }

  /**
   * Forgets the digests and their key of every report below which all numbers have arrived (or
   * were recorded as lost): no late raising can come any more, and the report names no one then.
   * Also the requests a day old, unanswered (a gateway of an earlier version, or one that stopped).
   */
  async forgetSettled(): Promise<void> {
    await this.pool.query(
      `UPDATE gateway_alarm_reports r SET salt = NULL, digests = NULL
         FROM gateway_sequences s
        WHERE s.site = r.site AND s.gateway = r.gateway AND r.digests IS NOT NULL
          AND s.contiguous_through >= r.seq`,
    );
    await this.pool.query('DELETE FROM alarm_report_requests WHERE requested_at < now() - $1::interval', [
      REQUEST_KEPT,
    ]);
  }
}
