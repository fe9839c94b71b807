import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { EventStore } from '../../storage/event-store.js';
import { staffActor } from '../auth-plugin.js';
import { MonitoringErrors } from '../monitoring-errors.js';
import { Access } from '../roles.js';
import { ErrorSchema, RowId, StoredEventSchema } from '../schemas.js';

export interface EventsRoutesOptions {
  events: EventStore;
  audit: AuditLog;
}

const Id = Type.String({ pattern: ID_PATTERN });
const Time = Type.String({ format: 'date-time', maxLength: 40 });

/**
 * `GET /api/v1/events`: stored events, newest first, paged by ingest number, with filters. The
 * event history is personal data (who went where, when): every search is itself audited, before
 * anything is shown.
 */
export const eventsRoutes: FastifyPluginAsyncTypebox<EventsRoutesOptions> = async (
  app,
  { events, audit },
) => {
  app.get(
    '/api/v1/events',
    {
      config: { roles: Access.investigate },
      schema: {
        description:
          'Stored events newest first. `from` (inclusive) and `to` (exclusive) bound the time the event occurred; `kind` is a kind (access.denied) or a prefix ending in a dot (access.); `reason` matches data.reason; `before` is the `next` of the previous page.',
        querystring: Type.Object(
          {
            from: Type.Optional(Time),
            to: Type.Optional(Time),
            site: Type.Optional(Id),
            gateway: Type.Optional(Id),
            door: Type.Optional(Id),
            person: Type.Optional(Id),
            kind: Type.Optional(
              Type.String({ pattern: '^[a-z][a-z0-9-]*(\\.[a-z0-9-]+)*\\.?$', maxLength: 64 }),
            ),
            reason: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9-]*$', maxLength: 64 })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            before: Type.Optional(RowId()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            events: Type.Array(StoredEventSchema),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          503: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { limit, ...filter } = request.query;
      if (filter.from && filter.to && Date.parse(filter.from) >= Date.parse(filter.to))
        throw new MonitoringErrors.badFilter('`from` must be before `to`');
      // Who looked at whose movements, whatever their role: written before anything is shown.
      await audit.recordOrRefuse(
        { actor: staffActor(request), action: 'events.search', target: null, details: { ...filter, limit } },
        'nothing was searched',
      );
      const rows = await events.search(filter, limit);
      const last = rows[rows.length - 1];
      return { events: rows, next: rows.length === limit && last ? last.ingestNo : null };
    },
  );
};
