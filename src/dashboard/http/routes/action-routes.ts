import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { lineOfText } from '../../../lib/line-of-text.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { CentralMessenger, CommandResult } from '../../central-messenger.js';
import type { GatewayRegistry } from '../../storage/gateway-registry.js';
import type { OverviewStore } from '../../storage/overview-store.js';
import { staffActor } from '../auth-plugin.js';
import { MonitoringErrors } from '../monitoring-errors.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface ActionRoutesOptions {
  audit: AuditLog;
  registry: GatewayRegistry;
  overview: OverviewStore;
  messenger: () => CentralMessenger;
  /** How long to wait for a gateway's answer (tests shorten it). */
  commandTimeoutMs?: number;
}

const Id = Type.String({ pattern: ID_PATTERN });
const Reason = lineOfText(300);
/** A gateway's answer as the command result reports it; `timeout` when none came in time. */
const Status = Type.Union([
  Type.Literal('ok'),
  Type.Literal('rejected'),
  Type.Literal('failed'),
  Type.Literal('timeout'),
]);
const GatewayResult = Type.Object({
  gateway: Type.String(),
  status: Status,
  reason: Type.Optional(Type.String()),
});
const SiteResult = Type.Object({
  /** `ok` when every gateway of the site carried it out, `partial` when some did. */
  status: Type.Union([Status, Type.Literal('partial')]),
  reason: Type.Optional(Type.String()),
  results: Type.Array(GatewayResult),
});
const Errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 503: ErrorSchema };

type Outcome = { status: 'ok' | 'rejected' | 'failed' | 'timeout'; reason?: string };

const outcome = (result: CommandResult): Outcome => ({
  status: result.status,
  ...(result.reason ? { reason: result.reason } : {}),
});

function summarise(results: Array<Outcome & { gateway: string }>): {
  status: Outcome['status'] | 'partial';
  reason?: string;
} {
  const failures = results.filter((r) => r.status !== 'ok');
  if (failures.length === 0) return { status: 'ok' };
  const reason = failures
    .map((r) => `${r.gateway}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`)
    .join('; ');
  if (failures.length < results.length) return { status: 'partial', reason };
  const statuses = new Set(failures.map((r) => r.status));
  return { status: statuses.size === 1 ? (failures[0]?.status ?? 'failed') : 'failed', reason };
}

/**
 * Remote door unlock, lockdown and evacuation: signed commands to the gateways, for security
 * staff who confirmed their password and a code within the last minutes. Each is audited with
 * who, what, the reason given and what the gateway answered, whether or not it succeeded.
 */
export const actionRoutes: FastifyPluginAsyncTypebox<ActionRoutesOptions> = async (
  app,
  { audit, registry, overview, messenger: messengerOf, commandTimeoutMs = 15_000 },
) => {
  const messenger = (): CentralMessenger => {
    let instance: CentralMessenger;
    try {
      instance = messengerOf();
    } catch {
      throw new MonitoringErrors.messengerDown();
    }
    if (!instance.canSign) throw new MonitoringErrors.commandsOff();
    return instance;
  };

  app.post(
    '/api/v1/doors/:site/:gateway/:door/unlock',
    {
      config: { roles: Access.respond, reauth: true },
      schema: {
        description: 'Unlocks a door remotely for a few seconds; the reason goes to the audit log.',
        params: Type.Object({ site: Id, gateway: Id, door: Id }, { additionalProperties: false }),
        body: Type.Object(
          { seconds: Type.Integer({ minimum: 1, maximum: 30, default: 5 }), reason: Reason },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ status: Status, reason: Type.Optional(Type.String()) }), ...Errors },
      },
    },
    async (request) => {
      const who = staffActor(request);
      const { site, gateway, door } = request.params;
      const { seconds } = request.body;
      const reason = request.body.reason.trim();
      if (!registry.get(site, gateway)) throw new MonitoringErrors.notFound(`no gateway ${site}/${gateway}`);
      if (!(await overview.knowsDoor(site, gateway, door)))
        throw new MonitoringErrors.notFound(`no door ${door} at ${site}/${gateway}`);
      const sender = messenger();
      let result: Outcome = { status: 'failed', reason: 'could not be sent' };
      try {
        result = outcome(
          await sender.sendCommand(
            site,
            gateway,
            { kind: 'door.unlock', data: { door, durationMs: seconds * 1000 } },
            commandTimeoutMs,
          ),
        );
        return result;
      } finally {
        await audit.record({
          actor: who,
          action: 'door.remote-unlock',
          target: `door:${site}/${gateway}/${door}`,
          details: {
            seconds,
            reason,
            result: result.status,
            ...(result.reason ? { resultReason: result.reason } : {}),
          },
        });
      }
    },
  );

  /** Sends one command to every gateway of the site, at once, and collects their answers. */
  const toSite = async (
    site: string,
    body: Parameters<CentralMessenger['sendCommand']>[2],
  ): Promise<Array<Outcome & { gateway: string }>> => {
    const gateways = registry.ofSite(site);
    if (gateways.length === 0)
      throw new MonitoringErrors.notFound(`no gateway of site ${site} is registered`);
    const sender = messenger();
    return Promise.all(
      gateways.map(async ({ id }) => {
        try {
          return { gateway: id, ...outcome(await sender.sendCommand(site, id, body, commandTimeoutMs)) };
        } catch (error) {
          app.log.error({ err: error, site, gateway: id, kind: body.kind }, 'command could not be sent');
          return { gateway: id, status: 'failed' as const, reason: 'could not be sent' };
        }
      }),
    );
  };

  app.post(
    '/api/v1/sites/:site/lockdown',
    {
      config: { roles: Access.respond, reauth: true },
      schema: {
        description:
          'Starts or ends the lockdown of one room, or of the whole site without `room`, on every gateway of the site.',
        params: Type.Object({ site: Id }, { additionalProperties: false }),
        body: Type.Object(
          { room: Type.Optional(Id), active: Type.Boolean(), reason: Reason },
          { additionalProperties: false },
        ),
        response: { 200: SiteResult, ...Errors },
      },
    },
    async (request) => {
      const { site } = request.params;
      const { room, active } = request.body;
      const reason = request.body.reason.trim();
      const results = await toSite(site, {
        kind: 'lockdown.set',
        data: { active, ...(room ? { room } : {}) },
      });
      const summary = summarise(results);
      await audit.record({
        actor: staffActor(request),
        action: 'site.lockdown',
        target: `site:${site}`,
        details: { room: room ?? null, active, reason, result: summary.status, results },
      });
      return { ...summary, results };
    },
  );

  app.post(
    '/api/v1/sites/:site/evacuation',
    {
      config: { roles: Access.respond, reauth: true },
      schema: {
        description:
          'Starts or ends an evacuation (every door of the site released) on every gateway of the site.',
        params: Type.Object({ site: Id }, { additionalProperties: false }),
        body: Type.Object({ active: Type.Boolean(), reason: Reason }, { additionalProperties: false }),
        response: { 200: SiteResult, ...Errors },
      },
    },
    async (request) => {
      const { site } = request.params;
      const { active } = request.body;
      const reason = request.body.reason.trim();
      const results = await toSite(site, { kind: 'evacuation.set', data: { active } });
      const summary = summarise(results);
      await audit.record({
        actor: staffActor(request),
        action: 'site.evacuation',
        target: `site:${site}`,
        details: { active, reason, result: summary.status, results },
      });
      return { ...summary, results };
    },
  );
};
