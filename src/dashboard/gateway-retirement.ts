import type pg from 'pg';
import { CodedError } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import { writeAudit } from './audit/audit-log.js';
import { ALARMS_CHANNEL, alarmNotices, GATEWAYS_CHANNEL } from './cluster-channels.js';
import { TOO_LARGE_KEY } from './credential-publisher.js';
import { DISCONNECTED_KEY } from './monitoring/gateway-status-watch.js';
import { OFFLINE_KEY } from './monitoring/gateway-watchdog.js';
import type { AlarmStore, AlarmView } from './storage/alarm-store.js';
import { inTransaction } from './storage/database.js';

/**
 * Retiring a gateway (`identgate gateways retire`): one that was replaced, wiped, stolen or taken
 * out of service. It is trusted no more, by any dashboard instance (each is told at once and
 * forgets it): its events are refused and quarantined, it is sent no commands or credential sets,
 * and its id is never trusted again. The numbers its gaps still miss can come from nowhere now:
 * they are recorded as lost, with a critical `events-lost` alarm that names them, and its
 * `sequence-gap` and offline alarms are cleared, as are the conditions it raised itself (nothing
 * will report their end now). Incidents (`sequence-ahead`, a duress, …) stay for staff to resolve. All of it, and the audit entry, in one transaction.
 */
export interface RetirementRequest {
  site: string;
  gateway: string;
  reason: string;
  /** Who the audit log names: `cli:<os user>`. */
  actor: string;
}

export interface RetirementReport {
  /** Already retired before: nothing was changed. */
  already: boolean;
  retiredAt: Date;
  /** The runs of numbers recorded as lost, in order. */
  lost: Array<[number, number]>;
  /** Alarms raised or cleared. */
  alarms: AlarmView[];
}

/** The central alarms about a gateway's state, which end with it. */
const STATE_ALARMS = ['sequence-gap', OFFLINE_KEY, DISCONNECTED_KEY, TOO_LARGE_KEY];
/** Who announces the alarm changes to the dashboard instances' live streams. */
const NOTICE_SOURCE = 'retirement';
const RUNS_NAMED = 20;

export async function retireGateway(
  pool: pg.Pool,
  alarms: AlarmStore,
  request: RetirementRequest,
  log: Logger,
): Promise<RetirementReport> {
  const { site, gateway, reason, actor } = request;
  return inTransaction(pool, log, async (client) => {
    // The ingest's lock order: the ingest-order lock before the gateway's sequence row. An ingest
    // transaction holds that lock from its insert to its commit and updates the row last; taken
    // the other way round, the alarms below would wait for it while it waits for the row.
    await client.query('SELECT identgate_take_ingest_order()');
    const row = (
      await client.query<{ retired_at: Date | null }>(
        'SELECT retired_at FROM gateways WHERE site = $1 AND id = $2 FOR UPDATE',
        [site, gateway],
      )
    ).rows[0];
    if (!row) throw new CodedError('IDG_GATEWAY_UNKNOWN', `no gateway ${site}/${gateway} was ever trusted`);
    if (row.retired_at) return { already: true, retiredAt: row.retired_at, lost: [], alarms: [] };
    const retiredAt = (
      await client.query<{ retired_at: Date }>(
        `UPDATE gateways SET retired_at = now(), retired_reason = $3 WHERE site = $1 AND id = $2
         RETURNING retired_at`,
        [site, gateway, reason],
      )
    ).rows[0]?.retired_at as Date;
    const lost = await recordGapsLost(client, site, gateway, `gateway retired: ${reason}`);
    const changed: AlarmView[] = [];
    for (const key of STATE_ALARMS) changed.push(...(await alarms.clearCentral(key, site, gateway, client)));
    // Its own conditions (a camera down, a door held open, …): no report of it will end them now.
    const ended = await alarms.clearGatewayConditions(
      site,
      gateway,
      `the gateway was retired (${reason}): nothing reports this condition any more`,
      client,
    );
    changed.push(...ended);
    if (lost.length > 0)
      changed.push(...(await alarms.raiseCentral(lostAlarm(site, gateway, reason, lost), client)));
    await writeAudit(client, {
      actor,
      action: 'gateway.retire',
      target: `${site}/${gateway}`,
      details: {
        reason,
        lostRuns: lost.length,
        lostNumbers: countNumbers(lost),
        ...(ended.length > 0 ? { conditionsCleared: ended.map((a) => ({ id: a.id, alarm: a.alarm })) } : {}),
      },
    });
    // Delivered at the commit: every instance forgets the gateway, and shows the alarm changes.
    await client.query('SELECT pg_notify($1, $2)', [GATEWAYS_CHANNEL, `${site}/${gateway}`]);
    for (const notice of alarmNotices(NOTICE_SOURCE, [...new Set(changed.map((a) => a.id))]))
      await client.query('SELECT pg_notify($1, $2)', [ALARMS_CHANNEL, notice]);
    return { already: false, retiredAt, lost, alarms: changed };
  });
}

/**
 * Records every number between the gateway's contiguous watermark and its highest that no event
 * holds as lost, one row per run, and closes its gaps. Under the row lock of its sequence
 * watermark, which the ingest takes too.
 */
async function recordGapsLost(
  client: pg.PoolClient,
  site: string,
  gateway: string,
  reason: string,
): Promise<Array<[number, number]>> {
  const sequences = (
    await client.query<{ contiguous_through: string; highest: string }>(
      `SELECT contiguous_through, highest FROM gateway_sequences WHERE site = $1 AND gateway = $2 FOR UPDATE`,
      [site, gateway],
    )
  ).rows[0];
  if (!sequences || BigInt(sequences.highest) <= BigInt(sequences.contiguous_through)) return [];
  const runs = await client.query<{ from_seq: string; to_seq: string }>(
    `INSERT INTO sequence_losses (site, gateway, from_seq, to_seq, reason)
     SELECT $1, $2, gap.from_seq, gap.to_seq, $5 FROM identgate_gaps($1, $2, $3, $4) gap
     RETURNING from_seq, to_seq`,
    [site, gateway, sequences.contiguous_through, sequences.highest, reason.slice(0, 500)],
  );
  await client.query(
    `UPDATE gateway_sequences
        SET contiguous_through = highest, gap_since = NULL, resend_requested_at = NULL, resend_requested_to = NULL
      WHERE site = $1 AND gateway = $2`,
    [site, gateway],
  );
  return runs.rows
    .map((r): [number, number] => [Number(r.from_seq), Number(r.to_seq)])
    .sort((a, b) => a[0] - b[0]);
}

function countNumbers(runs: ReadonlyArray<[number, number]>): number {
  return runs.reduce((n, [from, to]) => n + (to - from + 1), 0);
}

function lostAlarm(site: string, gateway: string, reason: string, lost: Array<[number, number]>) {
  const named = lost
    .slice(0, RUNS_NAMED)
    .map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`))
    .join(', ');
  const more = lost.length > RUNS_NAMED ? ` and ${lost.length - RUNS_NAMED} more runs` : '';
  return {
    alarm: 'events-lost' as const,
    key: 'events-lost:retired',
    severity: 'critical' as const,
    site,
    gateway,
    detail:
      `events ${named}${more} of ${site}/${gateway} (${countNumbers(lost)} in all) are lost: the gateway was retired (${reason})`.slice(
        0,
        500,
      ),
  };
}
