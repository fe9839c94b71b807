import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { deriveOverview } from '../../monitoring/overview.js';
import type { OverviewStore } from '../../storage/overview-store.js';
import { Access } from '../roles.js';
import { ErrorSchema, OverviewSchema } from '../schemas.js';

export interface OverviewRoutesOptions {
  overview: OverviewStore;
}

/**
 * `GET /api/v1/overview`: doors, rooms, gateways and cameras as they stand, derived from the last
 * 7 days of events (see OverviewStore), and the ingest number they are current to: the live page
 * applies only stream events after it.
 */
export const overviewRoutes: FastifyPluginAsyncTypebox<OverviewRoutesOptions> = async (app, { overview }) => {
  app.get(
    '/api/v1/overview',
    {
      config: { roles: Access.monitor },
      schema: {
        description:
          'The current state of every door, room, gateway and camera, from the events of the last 7 days, and lastIngestNo: the newest event it includes.',
        response: { 200: OverviewSchema, 401: ErrorSchema, 403: ErrorSchema },
      },
    },
    async () => deriveOverview(await overview.read()),
  );
};
