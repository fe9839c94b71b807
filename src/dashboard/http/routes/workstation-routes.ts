import createError from '@fastify/error';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ID_PATTERN, WORKSTATION_ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { LiveHub } from '../../live-hub.js';
import { workstationAlarmKey } from '../../presence/alarm-keys.js';
import type { LoginCheckThrottle } from '../../presence/login-check-throttle.js';
import type { PresenceService } from '../../presence/presence-service.js';
import type { WorkstationAgents } from '../../presence/workstation-agents.js';
import type { WorkstationLocker } from '../../presence/workstation-locker.js';
import type { AlarmStore } from '../../storage/alarm-store.js';
import { storableText } from '../../storage/database.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface WorkstationRoutesOptions {
  presence: PresenceService;
  audit: AuditLog;
  alarms: AlarmStore;
  hub: LiveHub;
  /** Denies each workstation's checks beyond its rate (`throttled`), unaudited one by one. */
  throttle: Pick<LoginCheckThrottle, 'admit'>;
  /** Told each lock result after its audit: an `ok` settles the owed lock, a `failed` raises an alarm. */
  locker?: Pick<WorkstationLocker, 'result'>;
  /** The lock agents' heartbeats and status; without it the route answers 503. */
  agents?: Pick<WorkstationAgents, 'heartbeat' | 'status' | 'loginChecked'>;
}

/** Workstation ids are host names (see the workstations table). */
const WorkstationId = Type.String({ pattern: WORKSTATION_ID_PATTERN });

/**
 * A report (lock result, break-glass, heartbeat) beyond the workstation's allowance for reports
 * (LoginCheckThrottle): not recorded. The workstation sends a lock result or break-glass report
 * again later (429 is one of the answers it retries), so a real one is delayed, never lost; a
 * refused heartbeat is simply followed by the next. A flood writes nothing.
 */
const ReportThrottled = createError(
  'IDG_WORKSTATION_THROTTLED',
  'this workstation sends far more than workstations do; send it again later',
  429,
);

export const LoginDenial = Type.Union([
  Type.Literal('not-present'),
  Type.Literal('other-room'),
  Type.Literal('lease-expired'),
  Type.Literal('compliance-lapsed'),
  Type.Literal('unknown-workstation'),
  Type.Literal('unknown-user'),
  Type.Literal('presence-unknown'),
  Type.Literal('throttled'),
]);

/**
 * The login check a workstation makes before letting a person in (PAM, a Windows credential
 * provider): answered from the presence state in memory, and audited whatever the answer. An
 * allow is stored for lock on leave and the audit is written before the answer leaves: a check
 * that cannot be recorded is not answered (or, when the allow cannot be stored, denied). Checks
 * beyond the workstation's rate are denied (`throttled`) before any of that, and are audited per
 * flood, not one by one (LoginCheckThrottle).
 */
export const workstationRoutes: FastifyPluginAsyncTypebox<WorkstationRoutesOptions> = async (
  app,
  { presence, audit, alarms, hub, throttle, locker, agents },
) => {
  app.post(
    '/api/v1/workstations/:id/login-check',
    {
      config: { roles: 'workstation' },
      schema: {
        description:
          'May this user log into this workstation now? Allowed only while the user is present in the workstation’s room (badge-in, lease not lapsed, compliance current); checks beyond the workstation’s rate are denied as throttled. Authenticated with the workstation’s bearer token.',
        params: Type.Object({ id: WorkstationId }, { additionalProperties: false }),
        body: Type.Object(
          { user: Type.String({ pattern: ID_PATTERN, description: 'the login name: the person id' }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ allow: Type.Boolean(), reason: Type.Optional(LoginDenial) }),
          400: ErrorSchema,
          401: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { user } = request.body;
      if (!(await throttle.admit(id))) return { allow: false, reason: 'throttled' as const };
      // Someone tries to log in there: it runs, whatever its agent said at its last shutdown. Ended
      // before the allow is stored, so a leave right after it owes its lock.
      await agents?.loginChecked(id);
      const verdict = await presence.answer(id, user);
      // A name that is nobody's may be a password typed into the user field: it is not written.
      const named = verdict.allow || verdict.reason !== 'unknown-user';
      await audit.record({
        actor: `workstation:${id}`,
        action: verdict.allow ? 'workstation.login-allowed' : 'workstation.login-denied',
        target: `workstation:${id}`,
        details: { ...(named ? { user } : {}), ...(verdict.allow ? {} : { reason: verdict.reason }) },
      });
      return verdict;
    },
  );

  app.post(
    '/api/v1/workstations/:id/break-glass',
    {
      config: { roles: 'workstation' },
      schema: {
        description:
          'A workstation reports the use of its break-glass procedure (emergency login while central was unreachable, or a refused attempt): audited, and it raises a critical alarm.',
        params: Type.Object({ id: WorkstationId }, { additionalProperties: false }),
        body: Type.Object(
          {
            user: Type.String({ pattern: ID_PATTERN }),
            reason: Type.String({ minLength: 1, maxLength: 300 }),
            at: Type.String({ format: 'date-time' }),
            outcome: Type.Union([Type.Literal('granted'), Type.Literal('refused')]),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ alarm: Type.Integer() }),
          400: ErrorSchema,
          401: ErrorSchema,
          429: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { user, at, outcome } = request.body;
      if (!(await throttle.admit(id, 'report'))) throw new ReportThrottled();
      // Text the workstation wrote: a NUL byte PostgreSQL refuses must not cost the audit and alarm.
      const reason = storableText(request.body.reason);
      const workstation = presence.workstation(id);
      await audit.record({
        actor: `workstation:${id}`,
        action: `workstation.break-glass-${outcome}`,
        target: `workstation:${id}`,
        details: { user, reason, at },
      });
      const raised = await alarms.raiseCentral({
        alarm: 'workstation-break-glass',
        key: workstationAlarmKey('workstation-break-glass', id),
        severity: 'critical',
        ...(workstation ? { site: workstation.site } : {}),
        detail: `break-glass ${outcome} on workstation ${id} at ${at}`.slice(0, 500),
      });
      hub.publishAlarms(raised);
      return { alarm: raised[0]?.id ?? 0 };
    },
  );

  app.post(
    '/api/v1/workstations/:id/lock-result',
    {
      config: { roles: 'workstation' },
      schema: {
        description:
          'A workstation agent reports what it did with a lock command (locked, failed, or rejected as not valid): audited.',
        params: Type.Object({ id: WorkstationId }, { additionalProperties: false }),
        body: Type.Object(
          {
            command: Type.Optional(Type.String({ pattern: '^[0-9a-f-]{36}$' })),
            status: Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('rejected')]),
            reason: Type.Optional(Type.String({ maxLength: 300 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ recorded: Type.Boolean() }),
          400: ErrorSchema,
          401: ErrorSchema,
          429: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { command, status } = request.body;
      if (!(await throttle.admit(id, 'report'))) throw new ReportThrottled();
      const reason = request.body.reason === undefined ? undefined : storableText(request.body.reason);
      await audit.record({
        actor: `workstation:${id}`,
        action: 'workstation.lock-result',
        target: `workstation:${id}`,
        details: { status, ...(command ? { command } : {}), ...(reason ? { reason } : {}) },
      });
      await locker?.result(id, command, status);
      return { recorded: true };
    },
  );

  app.post(
    '/api/v1/workstations/:id/agent-heartbeat',
    {
      config: { roles: 'workstation' },
      schema: {
        description:
          "A workstation's lock agent reports that it runs (every minute); a quiet one raises workstation-agent-offline.",
        params: Type.Object({ id: WorkstationId }, { additionalProperties: false }),
        body: Type.Optional(
          Type.Object(
            {
              state: Type.Optional(
                Type.Union([Type.Literal('running'), Type.Literal('shutdown')], {
                  description:
                    'shutdown: the agent stops because the workstation shuts down; its owed locks are settled and none are sent until it reports again',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: Type.Object({ recorded: Type.Boolean() }),
          400: ErrorSchema,
          401: ErrorSchema,
          429: ErrorSchema,
        },
      },
    },
    async (request) => {
      if (!(await throttle.admit(request.params.id, 'report'))) throw new ReportThrottled();
      return {
        recorded: (await agents?.heartbeat(request.params.id, request.body?.state ?? 'running')) ?? false,
      };
    },
  );

  app.get(
    '/api/v1/workstations',
    {
      config: { roles: Access.monitor },
      schema: {
        description:
          'Every workstation with the people present in its room (since, lease end) and its last login check.',
        response: {
          200: Type.Object({
            workstations: Type.Array(
              Type.Object({
                id: Type.String(),
                site: Type.String(),
                room: Type.String(),
                name: Type.String(),
                agentSeenAt: Type.Optional(
                  Type.String({ description: 'when its lock agent last reported; absent: never' }),
                ),
                owedLocks: Type.Integer({ description: 'locks sent to it and not yet confirmed' }),
                shutDownAt: Type.Optional(
                  Type.String({ description: 'its agent said it shuts down, and has not reported since' }),
                ),
                present: Type.Array(
                  Type.Object({ person: Type.String(), since: Type.String(), leaseUntil: Type.String() }),
                ),
                lastCheck: Type.Optional(
                  Type.Object({
                    user: Type.Optional(
                      Type.String({ description: 'absent when the name was nobody’s (unknown-user)' }),
                    ),
                    allow: Type.Boolean(),
                    reason: Type.Optional(LoginDenial),
                    at: Type.String(),
                  }),
                ),
              }),
            ),
          }),
          401: ErrorSchema,
          403: ErrorSchema,
        },
      },
    },
    async () => {
      const status = (await agents?.status()) ?? new Map();
      return {
        workstations: presence.view().map((w) => ({ ...w, owedLocks: 0, ...status.get(w.id) })),
      };
    },
  );
};
