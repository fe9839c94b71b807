import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  DeletionLogRow,
  LegalHold,
  NewLegalHold,
  PolicyInput,
  PolicyOverview,
  PolicyRef,
  StoredPolicy,
} from '../../retention/retention-schemas.js';
import type { RetentionService } from '../../retention/retention-service.js';
import { asHttp } from '../admin-errors.js';
import { staffActor } from '../auth-plugin.js';
import { Access } from '../roles.js';
import { ErrorSchema, RowId } from '../schemas.js';

const Errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };

/**
 * Retention policies and legal holds, for administrators: the same RetentionService calls as
 * `identgate retention …`, which validates, writes the change and its audit row in one
 * transaction. Changing a policy or a hold needs a fresh re-authentication.
 */
export const adminRetentionRoutes: FastifyPluginAsyncTypebox<{ retention: RetentionService }> = async (
  app,
  { retention },
) => {
  app.get(
    '/api/v1/retention/policies',
    {
      config: { roles: Access.administer },
      schema: {
        description:
          'The data classes, the configured default and every policy (the most specific scope wins).',
        response: { 200: PolicyOverview, ...Errors },
      },
    },
    async () => retention.policies(),
  );

  app.put(
    '/api/v1/retention/policies',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description: 'Sets how many days one data class is kept, globally, for a customer or for a site.',
        body: PolicyInput,
        response: { 200: StoredPolicy, ...Errors },
      },
    },
    async (request) => asHttp(() => retention.setPolicy(request.body, staffActor(request))),
  );

  app.post(
    '/api/v1/retention/policies/remove',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description: 'Removes a policy so that the next wider scope (or the default) applies.',
        body: PolicyRef,
        response: { 200: Type.Object({ removed: Type.Boolean() }), ...Errors },
      },
    },
    async (request) => ({
      removed: await asHttp(() => retention.removePolicy(request.body, staffActor(request))),
    }),
  );

  app.get(
    '/api/v1/retention/holds',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'Legal holds, active ones only unless includeReleased.',
        querystring: Type.Object(
          { includeReleased: Type.Boolean({ default: false }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ holds: Type.Array(LegalHold) }), ...Errors },
      },
    },
    async (request) => ({ holds: await retention.holds({ includeReleased: request.query.includeReleased }) }),
  );

  app.post(
    '/api/v1/retention/holds',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          'Places a legal hold: data of the site (or every site) in the span is not deleted until the hold is released. The reason is a case reference, not a name.',
        body: NewLegalHold,
        response: { 201: LegalHold, ...Errors },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await asHttp(() => retention.addHold(request.body, staffActor(request)))),
  );

  app.post(
    '/api/v1/retention/holds/:id/release',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description: 'Releases a legal hold; its data goes at the next run once its retention has passed.',
        params: Type.Object({ id: RowId() }, { additionalProperties: false }),
        response: { 200: LegalHold, ...Errors },
      },
    },
    async (request) => asHttp(() => retention.releaseHold(request.params.id, staffActor(request))),
  );

  app.get(
    '/api/v1/retention/deletion-log',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'What the latest retention runs and erasures deleted (counts, never personal data).',
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ entries: Type.Array(DeletionLogRow) }), ...Errors },
      },
    },
    async (request) => ({ entries: await retention.deletionLog({ limit: request.query.limit }) }),
  );
};
