import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Pool } from 'pg';
import Type from 'typebox';
import { lineOfText } from '../../../lib/line-of-text.js';
import type { Logger } from '../../../lib/logger.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { AuthErrors } from '../../auth/auth-errors.js';
import { privilegeAlarmObjection } from '../../auth/privilege-alarm.js';
import type { LiveHub } from '../../live-hub.js';
import { type AlarmStep, settleAlarm } from '../../monitoring/alarm-settling.js';
import type { AlarmStore } from '../../storage/alarm-store.js';
import { MonitoringErrors } from '../monitoring-errors.js';
import { Access } from '../roles.js';
import { AlarmViewSchema, ErrorSchema, RowId } from '../schemas.js';

export interface AlarmsRoutesOptions {
  pool: Pool;
  alarms: AlarmStore;
  audit: AuditLog;
  hub: LiveHub;
  log: Logger;
}

const Errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  503: ErrorSchema,
};
const Comment = lineOfText(500);

/**
 * `GET /api/v1/alarms`: the alarm list, newest first, paged by alarm id.
 * `POST /api/v1/alarms/:id/acknowledge` and `…/resolve`: the alarm workflow (active →
 * acknowledged → resolved), each with a comment, audited, and pushed to every live stream.
 */
export const alarmsRoutes: FastifyPluginAsyncTypebox<AlarmsRoutesOptions> = async (
  app,
  { pool, alarms, audit, hub, log },
) => {
  app.get(
    '/api/v1/alarms',
    {
      config: { roles: Access.alarms },
      schema: {
        description:
          'Alarms newest first. state=open (the default) is active and acknowledged ones; `before` is the `next` of the previous page.',
        querystring: Type.Object(
          {
            state: Type.Union(
              [
                Type.Literal('open'),
                Type.Literal('active'),
                Type.Literal('acknowledged'),
                Type.Literal('resolved'),
                Type.Literal('all'),
              ],
              { default: 'open' },
            ),
            severity: Type.Optional(
              Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]),
            ),
            site: Type.Optional(Type.String({ pattern: ID_PATTERN })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            before: Type.Optional(RowId()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            alarms: Type.Array(AlarmViewSchema),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
          ...Errors,
        },
      },
    },
    async (request) => {
      const { state, severity, site, limit, before } = request.query;
      const list = await alarms.list({ state, severity, site, limit, before });
      const last = list[list.length - 1];
      return { alarms: list, next: list.length === limit && last ? last.id : null };
    },
  );

  const transition = (action: AlarmStep) =>
    app.post(
      `/api/v1/alarms/:id/${action}`,
      {
        config: { roles: Access.respond },
        schema: {
          description:
            action === 'acknowledge'
              ? 'Acknowledges an active alarm with a comment (what is being done).'
              : 'Resolves an acknowledged alarm with a comment, once its condition has cleared.',
          params: Type.Object({ id: RowId() }, { additionalProperties: false }),
          body: Type.Object({ comment: Comment }, { additionalProperties: false }),
          response: { 200: AlarmViewSchema, ...Errors },
        },
      },
      async (request) => {
        const login = request.auth?.account.login;
        if (!login) throw new AuthErrors.unauthenticated();
        const { id } = request.params;
        const comment = request.body.comment.trim();
        const change = await settleAlarm({ pool, alarms, audit, log }, action, id, comment, {
          actor: `staff:${login}`,
          by: login,
          objection: (db, alarmId) => privilegeAlarmObjection(db, alarmId, login),
        });
        if (!change.ok) {
          if (change.reason === 'objection') throw new MonitoringErrors.ownAccount(change.message);
          if (change.reason === 'not-found') throw new MonitoringErrors.notFound(change.message);
          throw new MonitoringErrors.alarmState(change.message);
        }
        hub.publishAlarms([change.alarm]);
        return change.alarm;
      },
    );
  transition('acknowledge');
  transition('resolve');
};
