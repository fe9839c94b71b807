import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { AuditLog } from '../../audit/audit-log.js';
import { Access } from '../roles.js';
import { ErrorSchema, RowId } from '../schemas.js';

export interface AuditRoutesOptions {
  audit: AuditLog;
}

const AuditEntrySchema = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  actor: Type.String(),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  details: Type.Record(Type.String(), Type.Unknown()),
});

/** `GET /api/v1/audit`: who did what in the dashboard (and the CLI), newest first, paged by entry id. */
export const auditRoutes: FastifyPluginAsyncTypebox<AuditRoutesOptions> = async (app, { audit }) => {
  app.get(
    '/api/v1/audit',
    {
      config: { roles: Access.audit },
      schema: {
        description:
          'Audit log entries newest first. `action` is a prefix (alarm. or door.remote-unlock); `actor` is exact (staff:alice) or a prefix ending in a colon (staff:); `before` is the `next` of the previous page.',
        querystring: Type.Object(
          {
            action: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9.-]*$', maxLength: 64 })),
            actor: Type.Optional(Type.String({ pattern: '^[a-z]+(:[A-Za-z0-9._@-]*)?$', maxLength: 200 })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            before: Type.Optional(RowId()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            entries: Type.Array(AuditEntrySchema),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { limit, action, actor, before } = request.query;
      const entries = await audit.recent({ limit, action, actor, before });
      const last = entries[entries.length - 1];
      return { entries, next: entries.length === limit && last ? last.id : null };
    },
  );
};
