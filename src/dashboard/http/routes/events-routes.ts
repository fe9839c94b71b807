import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { EventStore } from '../../storage/event-store.js';
import { Access } from '../roles.js';
import { ErrorSchema, StoredEventSchema } from '../schemas.js';

export interface EventsRoutesOptions {
  events: EventStore;
}

/** `GET /api/v1/events`: stored events, newest first, paged by ingest number. */
export const eventsRoutes: FastifyPluginAsyncTypebox<EventsRoutesOptions> = async (app, { events }) => {
  app.get(
    '/api/v1/events',
    {
      config: { roles: Access.investigate },
      schema: {
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            before: Type.Optional(Type.Integer({ minimum: 1 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            events: Type.Array(StoredEventSchema),
            next: Type.Union([Type.Integer(), Type.Null()]),
          }),
          400: ErrorSchema,
        },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const rows = await events.recent(limit, before);
      const last = rows[rows.length - 1];
      return { events: rows, next: rows.length === limit && last ? last.ingestNo : null };
    },
  );
};
