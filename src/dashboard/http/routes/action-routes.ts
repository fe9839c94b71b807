import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { lineOfText } from '../../../lib/line-of-text.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditEntry, AuditLog } from '../../audit/audit-log.js';
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
 * staff who confirmed their password and a code within the last minutes. Each is audited before
 * it is sent — who, what and the reason given; an action whose entry cannot be written is not
 * sent — and what the gateways answered is audited after, whether or not it succeeded.
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

  /** The request's entry, before anything is sent: fails closed. Answers the entry's id. */
  const auditRequest = async (entry: AuditEntry): Promise<number> => {
    try {
      return await audit.recordOrRefuse(entry, 'nothing was sent');
    } catch (error) {
      app.log.error({ err: error, action: entry.action, target: entry.target }, 'audit: action not sent');
      throw error;
    }
  };

  /**
   * The outcome's entry, `<action>-result`, naming the request's. The command has gone out: a
   * failure here is logged, and the answer still tells what the gateways did.
   */
  const auditResult = async (
    request: { actor: string; action: string; target: string; id: number },
    details: Record<string, unknown>,
  ): Promise<void> => {
    const { actor, action, target, id } = request;
    await audit
      .record({ actor, action: `${action}-result`, target, details: { request: id, ...details } })
      .catch((error: Error) =>
        app.log.error(
          { err: error, action, target, request: id, details },
          'audit: an action result was not written',
        ),
      );
  };

  app.post(
    '/api/v1/doors/:site/:gateway/:door/unlock',
    {
      config: { roles: Access.respond, reauth: true },
      schema: {
        description:
          'Unlocks a door remotely for a few seconds; the reason goes to the audit log, before the command is sent.',
        params: Type.Object({ site: Id, gateway: Id, door: Id }, { additionalProperties: false }),
        body: Type.Object(
          { seconds: Type.Integer({ minimum: 1, maximum: 30, default: 5 }), reason: Reason },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ status: Status, reason: Type.Optional(Type.String()) }), ...Errors },
      },
    },
    async (request) => {
      const actor = staffActor(request);
      const { site, gateway, door } = request.params;
      const { seconds } = request.body;
      const reason = request.body.reason.trim();
      if (!registry.get(site, gateway)) throw new MonitoringErrors.notFound(`no gateway ${site}/${gateway}`);
      if (!(await overview.knowsDoor(site, gateway, door)))
        throw new MonitoringErrors.notFound(`no door ${door} at ${site}/${gateway}`);
      const sender = messenger();
      const action = 'door.remote-unlock';
      const target = `door:${site}/${gateway}/${door}`;
      const id = await auditRequest({ actor, action, target, details: { seconds, reason } });
      let result: Outcome;
      try {
        result = outcome(
          await sender.sendCommand(
            site,
            gateway,
            { kind: 'door.unlock', data: { door, durationMs: seconds * 1000 } },
            commandTimeoutMs,
          ),
        );
      } catch (error) {
        await auditResult(
          { actor, action, target, id },
          { result: 'failed', resultReason: 'could not be sent' },
        );
        throw error;
      }
      await auditResult(
        { actor, action, target, id },
        { result: result.status, ...(result.reason ? { resultReason: result.reason } : {}) },
      );
      return result;
    },
  );

  /**
   * Audits the request, then sends one command to every gateway of the site, at once, audits what
   * they answered, and answers it.
   */
  const toSite = async (
    actor: string,
    site: string,
    action: 'site.lockdown' | 'site.evacuation',
    details: Record<string, unknown>,
    body: Parameters<CentralMessenger['sendCommand']>[2],
  ) => {
    const gateways = registry.ofSite(site);
    if (gateways.length === 0)
      throw new MonitoringErrors.notFound(`no gateway of site ${site} is registered`);
    const sender = messenger();
    const target = `site:${site}`;
    const id = await auditRequest({ actor, action, target, details });
    const results = await Promise.all(
      gateways.map(async ({ id: gateway }): Promise<Outcome & { gateway: string }> => {
        try {
          return { gateway, ...outcome(await sender.sendCommand(site, gateway, body, commandTimeoutMs)) };
        } catch (error) {
          app.log.error({ err: error, site, gateway, kind: body.kind }, 'command could not be sent');
          return { gateway, status: 'failed', reason: 'could not be sent' };
        }
      }),
    );
    const summary = summarise(results);
    await auditResult({ actor, action, target, id }, { result: summary.status, results });
    return { ...summary, results };
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
      return toSite(
        staffActor(request),
        site,
        'site.lockdown',
        { room: room ?? null, active, reason },
        { kind: 'lockdown.set', data: { active, ...(room ? { room } : {}) } },
      );
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
      return toSite(
        staffActor(request),
        site,
        'site.evacuation',
        { active, reason },
        { kind: 'evacuation.set', data: { active } },
      );
    },
  );
};
