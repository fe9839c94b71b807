import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { lineOfText, NO_CONTROL_PATTERN } from '../../../lib/line-of-text.js';
import type { RetentionService } from '../../retention/retention-service.js';
import type { PeopleDirectory } from '../../storage/people-directory.js';
import { asHttp } from '../admin-errors.js';
import {
  Day,
  Errors,
  Id,
  Name,
  NullableDay,
  type PeopleAdmin,
  PersonDetail,
  PersonParams,
  PersonSummary,
  Sync,
  WithSync,
} from '../admin-people-support.js';
import { Access } from '../roles.js';

export interface AdminPeopleRoutesOptions {
  directory: PeopleDirectory;
  retention: RetentionService;
  admin: PeopleAdmin;
}

/**
 * People (agents), for administrators: list and search, create and update (name, compliance
 * dates), and erasure on request (re-authenticated). Every change is audited with the person's id
 * as target (names and dates stay out of the audit log) and published at once to the gateways of
 * the person's sites. Badges, sites and the authenticator: admin-credential-routes.ts.
 */
export const adminPeopleRoutes: FastifyPluginAsyncTypebox<AdminPeopleRoutesOptions> = async (
  app,
  { directory, retention, admin },
) => {
  app.get(
    '/api/v1/people',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'People by name; `q` matches id, name or badge (part of it, any case).',
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ maxLength: 100, pattern: NO_CONTROL_PATTERN })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ people: Type.Array(PersonSummary) }), ...Errors },
      },
    },
    async (request) => {
      const { q, limit, offset } = request.query;
      return { people: await directory.search({ ...(q?.trim() ? { query: q.trim() } : {}), limit, offset }) };
    },
  );

  app.get(
    '/api/v1/people/:id',
    {
      config: { roles: Access.administer },
      schema: { params: PersonParams, response: { 200: PersonDetail, ...Errors } },
    },
    async (request) => admin.existing(request.params.id),
  );

  app.post(
    '/api/v1/people',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'Creates a person; badges, sites and the authenticator follow.',
        body: Type.Object(
          {
            id: Id,
            displayName: Name,
            backgroundCheckOn: Type.Optional(Day),
            trainingOn: Type.Optional(Day),
            mayOpenRoom: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: PersonDetail, ...Errors },
      },
    },
    async (request, reply) => {
      await admin.enrolment.create(admin.actor(request), request.body);
      return reply.code(201).send(await admin.existing(request.body.id));
    },
  );

  app.patch(
    '/api/v1/people/:id',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'Changes the name or the compliance dates (null clears a date).',
        params: PersonParams,
        body: Type.Object(
          {
            displayName: Type.Optional(Name),
            backgroundCheckOn: Type.Optional(NullableDay),
            trainingOn: Type.Optional(NullableDay),
            mayOpenRoom: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: WithSync, ...Errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { sites } = await admin.enrolment.update(admin.actor(request), id, request.body);
      return { person: await admin.existing(id), sync: await admin.sync(sites) };
    },
  );

  app.post(
    '/api/v1/people/:id/erase',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          'Erases the person on request: master data, badges, grants and secret always; their events, footage links and alarms too unless keepEvents (data under a legal hold stays).',
        params: PersonParams,
        body: Type.Object(
          {
            keepEvents: Type.Boolean({ default: false }),
            reference: Type.Optional(lineOfText(100)),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            report: Type.Object({
              person: Type.Boolean(),
              badges: Type.Integer(),
              grants: Type.Integer(),
              events: Type.Integer(),
              footageLinks: Type.Integer(),
              alarms: Type.Integer(),
              quarantine: Type.Integer(),
              heldEvents: Type.Integer(),
              companions: Type.Integer(),
              auditEntries: Type.Integer(),
              keptEvents: Type.Boolean(),
            }),
            sync: Sync,
          }),
          ...Errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { keepEvents, reference } = request.body;
      const sites = (await directory.get(id))?.sites ?? [];
      const report = await asHttp(() =>
        retention.erasePerson(
          id,
          // This instance publishes the sets below, for every gateway: no notice needed.
          { keepEvents, announce: false, ...(reference ? { reference: reference.trim() } : {}) },
          admin.actor(request),
        ),
      );
      return { report, sync: await admin.sync(sites) };
    },
  );
};
