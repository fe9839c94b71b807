import { retireGateway } from '../dashboard/gateway-retirement.js';
import { AlarmStore } from '../dashboard/storage/alarm-store.js';
import { ID_PATTERN } from '../protocol/ids.js';
import { UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate gateways list|retire`: the gateways the central side ever trusted, and retiring one
 * (see gateway-retirement.ts). Retiring is audited as `cli:<os user>` with the reason.
 */
export const GATEWAYS_USAGE = `usage:
  identgate gateways list --config <dashboard.yaml>
    every gateway ever trusted: whether the configuration lists it or it was retired, its highest
    sequence number and what its gaps miss
  identgate gateways retire <site>/<id> --reason <text> --config <dashboard.yaml>
    stops trusting a gateway for good (replaced, wiped, stolen, out of service): every dashboard
    instance refuses its events from then on, what its gaps still miss is recorded as lost (a
    critical events-lost alarm), and its id is never trusted again`;

export interface GatewaysFlags {
  config?: string;
  reason?: string;
}

const ID = ID_PATTERN.slice(1, -1);
const GATEWAY_NAME = new RegExp(`^(${ID})/(${ID})$`);

export async function runGatewaysCommand(args: string[], flags: GatewaysFlags): Promise<string[]> {
  const [verb, name, ...rest] = args;
  if (verb === 'list' && name === undefined) return listGateways(flags);
  if (verb !== 'retire' || !name || rest.length > 0) throw new UsageError(GATEWAYS_USAGE);
  const match = GATEWAY_NAME.exec(name);
  if (!match) throw new UsageError(`"${name}" is not <site>/<id>\n\n${GATEWAYS_USAGE}`);
  const reason = flags.reason?.trim();
  if (!reason)
    throw new UsageError('identgate gateways retire needs --reason <text> (it goes into the audit log)');
  const [, site = '', gateway = ''] = match;
  return withDashboardDatabase(flags.config, 'gateways retire', async ({ config, pool, log }) => {
    const report = await retireGateway(
      pool,
      new AlarmStore(pool),
      { site, gateway, reason: reason.slice(0, 500), actor: cliActor() },
      log,
    );
    if (report.already)
      return [`${site}/${gateway} was already retired on ${report.retiredAt.toISOString()}`];
    const lost = report.lost.reduce((n, [from, to]) => n + (to - from + 1), 0);
    const lines = [
      `retired ${site}/${gateway} at ${report.retiredAt.toISOString()}: its events are refused by every dashboard instance from now on`,
      lost > 0
        ? `${lost} missing events in ${report.lost.length} runs recorded as lost (a critical events-lost alarm names them)`
        : 'no events were missing',
    ];
    if (config.gateways.some((g) => g.site === site && g.id === gateway))
      lines.push(
        `remove ${site}/${gateway} from gateways: in ${flags.config}; it is not trusted again either way`,
      );
    return lines;
  });
}

async function listGateways(flags: GatewaysFlags): Promise<string[]> {
  return withDashboardDatabase(flags.config, 'gateways list', async ({ config, pool }) => {
    const result = await pool.query<{
      site: string;
      id: string;
      enrolled_at: Date;
      retired_at: Date | null;
      retired_reason: string | null;
      highest: string | null;
      missing_from: string | null;
    }>(
      // The first number missing: the first gap past the watermark, which the gap scanner moves
      // now and then, found as the scanner finds it (migration 25).
      `SELECT g.site, g.id, g.enrolled_at, g.retired_at, g.retired_reason, s.highest,
              (SELECT gap.from_seq FROM identgate_first_gap(g.site, g.id, s.contiguous_through, s.highest) gap)
                AS missing_from
         FROM gateways g LEFT JOIN gateway_sequences s ON s.site = g.site AND s.gateway = g.id
        ORDER BY g.site, g.id`,
    );
    if (result.rows.length === 0) return ['no gateway was ever trusted'];
    const listed = new Set(config.gateways.map((g) => `${g.site}/${g.id}`));
    return result.rows.map((row) => {
      const name = `${row.site}/${row.id}`;
      const state = row.retired_at
        ? `retired ${row.retired_at.toISOString()} (${row.retired_reason ?? 'no reason given'})`
        : listed.has(name)
          ? 'trusted'
          : 'not listed under gateways: (its events are refused; retire it to close its gaps)';
      const highest = Number(row.highest ?? 0);
      const numbers =
        highest === 0
          ? 'no events yet'
          : `highest ${highest}${row.missing_from === null ? '' : `, a gap from ${Number(row.missing_from)}`}`;
      return `${name}  ${state}  ${numbers}`;
    });
  });
}
