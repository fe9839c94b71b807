import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import Type from 'typebox';
import { generateTotpSecret, otpauthUri } from '../../../controllers/totp-secret.js';
import type { Logger } from '../../../lib/logger.js';
import { ID_PATTERN } from '../../../protocol/ids.js';
import type { AuditLog } from '../../audit/audit-log.js';
import { AuthErrors } from '../../auth/auth-errors.js';
import type { CentralMessenger } from '../../central-messenger.js';
import type { RetentionService } from '../../retention/retention-service.js';
import type { PeopleDirectory } from '../../storage/people-directory.js';
import type { PeopleStore } from '../../storage/people-store.js';
import { AdminErrors, asHttp } from '../admin-errors.js';
import { lineOfText } from '../admin-schemas.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface AdminPeopleRoutesOptions {
  people: PeopleStore;
  directory: PeopleDirectory;
  retention: RetentionService;
  audit: AuditLog;
  messenger: () => CentralMessenger;
  /** The issuer the authenticator app shows beside the code. */
  issuer: string;
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
const Id = Type.String({ pattern: ID_PATTERN });
const Badge = Type.String({ pattern: '^[A-Za-z0-9:_-]{1,64}$' });
const Name = lineOfText(200);
const Day = Type.String({ format: 'date', maxLength: 10 });
const NullableDay = Type.Union([Day, Type.Null()]);
const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);

const PersonSummary = Type.Object({
  id: Type.String(),
  displayName: Type.String(),
  backgroundCheckOn: Type.Union([Type.String(), Type.Null()]),
  trainingOn: Type.Union([Type.String(), Type.Null()]),
  mayOpenRoom: Type.Boolean(),
  totpEnrolled: Type.Boolean(),
  activeBadges: Type.Integer(),
  sites: Type.Array(Type.String()),
  updatedAt: Time,
});
const PersonDetail = Type.Object({
  ...PersonSummary.properties,
  badges: Type.Array(
    Type.Object({
      badge: Type.String(),
      status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
      validFrom: NullableTime,
      validUntil: NullableTime,
      createdAt: Time,
      revokedAt: NullableTime,
    }),
  ),
});
/**
 * Whether the change reached the gateways: `published` to that many gateways, `off` without the
 * central signing key, `failed` when the broker could not be reached (the hourly refresh and the
 * gateways' own requests catch up).
 */
const Sync = Type.Object({
  status: Type.Union([Type.Literal('published'), Type.Literal('off'), Type.Literal('failed')]),
  gateways: Type.Integer(),
});
const WithSync = Type.Object({ person: PersonDetail, sync: Sync });
const PersonParams = Type.Object({ id: Id }, { additionalProperties: false });

/**
 * People (agents), for administrators: list and search, create and update (name, compliance
 * dates), badges, site grants, TOTP enrolment (the secret shown once, after re-authentication)
 * and erasure on request. Every change is audited with the person's id as target (names and
 * dates stay out of the audit log) and is published at once to the gateways of the person's
 * sites, as the credential sync does.
 */
export const adminPeopleRoutes: FastifyPluginAsyncTypebox<AdminPeopleRoutesOptions> = async (
  app,
  { people, directory, retention, audit, messenger, issuer, log },
) => {
  const actor = (request: FastifyRequest) => {
    const login = request.auth?.account.login;
    if (!login) throw new AuthErrors.unauthenticated();
    return `staff:${login}`;
  };
  const existing = async (id: string) => {
    const person = await directory.get(id);
    if (!person) throw new AdminErrors.notFound(`no person "${id}"`);
    return person;
  };
  /** Publishes the credential sets of these sites now, as the CLI and the hourly refresh do. */
  const sync = async (sites: readonly string[]) => {
    let gateways = 0;
    try {
      const sender = messenger();
      if (!sender.canSign) return { status: 'off' as const, gateways };
      for (const site of new Set(sites)) gateways += await sender.publishCredentials(site);
      return { status: 'published' as const, gateways };
    } catch (error) {
      log.error({ err: error, sites }, 'credential sets could not be published after a change');
      return { status: 'failed' as const, gateways };
    }
  };
  const record = (
    request: FastifyRequest,
    action: string,
    id: string,
    details: Record<string, unknown> = {},
  ) => audit.record({ actor: actor(request), action, target: `person:${id}`, details });

  app.get(
    '/api/v1/people',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'People by name; `q` matches id, name or badge (part of it, any case).',
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ maxLength: 100, pattern: '^[^\\u0000]*$' })),
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
    async (request) => existing(request.params.id),
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
      const { id, displayName, ...rest } = request.body;
      if (await directory.get(id)) throw new AdminErrors.conflict(`a person "${id}" exists already`);
      await people.upsertPerson({ id, displayName: displayName.trim(), ...rest });
      await record(request, 'person.created', id);
      return reply.code(201).send(await existing(id));
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
      const before = await existing(id);
      const change = request.body;
      const pick = (next: string | null | undefined, old: string | null) =>
        (next === undefined ? old : next) ?? undefined;
      const backgroundCheckOn = pick(change.backgroundCheckOn, before.backgroundCheckOn);
      const trainingOn = pick(change.trainingOn, before.trainingOn);
      const schedule = await directory.schedule(id);
      await people.upsertPerson({
        id,
        displayName: change.displayName?.trim() ?? before.displayName,
        ...(backgroundCheckOn ? { backgroundCheckOn } : {}),
        ...(trainingOn ? { trainingOn } : {}),
        mayOpenRoom: change.mayOpenRoom ?? before.mayOpenRoom,
        ...(schedule ? { schedule } : {}),
      });
      await record(request, 'person.updated', id, { fields: Object.keys(change).sort() });
      return { person: await existing(id), sync: await sync(before.sites) };
    },
  );

  app.post(
    '/api/v1/people/:id/badges',
    {
      config: { roles: Access.administer },
      schema: {
        description:
          'Gives the person a badge (or reactivates one of theirs), optionally valid only for a span.',
        params: PersonParams,
        body: Type.Object(
          { badge: Badge, validFrom: Type.Optional(Time), validUntil: Type.Optional(Time) },
          { additionalProperties: false },
        ),
        response: { 200: WithSync, ...Errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { badge, validFrom, validUntil } = request.body;
      const person = await existing(id);
      const owner = await directory.badgeOwner(badge);
      if (owner !== undefined && owner !== id)
        throw new AdminErrors.conflict(`badge ${badge} belongs to someone else; revoke it there first`);
      if (validFrom && validUntil && Date.parse(validUntil) <= Date.parse(validFrom))
        throw new AdminErrors.invalid('validUntil must be after validFrom');
      await people.addBadge(badge, id, {
        ...(validFrom ? { from: new Date(validFrom) } : {}),
        ...(validUntil ? { until: new Date(validUntil) } : {}),
      });
      await record(request, 'person.badge-added', id, { badge });
      return { person: await existing(id), sync: await sync(person.sites) };
    },
  );

  app.post(
    '/api/v1/people/:id/badges/:badge/revoke',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'Revokes a badge; the gateways refuse it with their next credential set (sent at once).',
        params: Type.Object({ id: Id, badge: Badge }, { additionalProperties: false }),
        response: { 200: WithSync, ...Errors },
      },
    },
    async (request) => {
      const { id, badge } = request.params;
      const person = await existing(id);
      if (!person.badges.some((b) => b.badge === badge && b.status === 'active'))
        throw new AdminErrors.notFound(`${id} has no active badge ${badge}`);
      await people.revokeBadge(badge);
      await record(request, 'person.badge-revoked', id, { badge });
      return { person: await existing(id), sync: await sync(person.sites) };
    },
  );

  const SiteParams = Type.Object({ id: Id, site: Id }, { additionalProperties: false });
  app.put(
    '/api/v1/people/:id/sites/:site',
    {
      config: { roles: Access.administer },
      schema: {
        description: "Lets the person enter the site: its gateways receive the person's credentials.",
        params: SiteParams,
        response: { 200: WithSync, ...Errors },
      },
    },
    async (request) => {
      const { id, site } = request.params;
      await existing(id);
      if (!(await directory.siteExists(site))) throw new AdminErrors.notFound(`no site "${site}"`);
      await people.grantSite(id, site);
      await record(request, 'person.site-granted', id, { site });
      return { person: await existing(id), sync: await sync([site]) };
    },
  );

  app.delete(
    '/api/v1/people/:id/sites/:site',
    {
      config: { roles: Access.administer },
      schema: {
        description: "Withdraws the site: its gateways drop the person's credentials.",
        params: SiteParams,
        response: { 200: WithSync, ...Errors },
      },
    },
    async (request) => {
      const { id, site } = request.params;
      await existing(id);
      if (!(await directory.withdrawSite(id, site)))
        throw new AdminErrors.notFound(`${id} has no grant for site ${site}`);
      await record(request, 'person.site-withdrawn', id, { site });
      return { person: await existing(id), sync: await sync([site]) };
    },
  );

  app.post(
    '/api/v1/people/:id/totp',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          'Creates a new TOTP secret for the person (replacing any old one) and returns it once, as an otpauth URI and a QR code; it is stored sealed and cannot be shown again.',
        params: PersonParams,
        response: {
          200: Type.Object({ otpauthUri: Type.String(), qrSvg: Type.String(), sync: Sync }),
          ...Errors,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const person = await existing(id);
      const secret = generateTotpSecret();
      await asHttp(() => people.setTotpSecret(id, secret));
      const uri = otpauthUri({
        issuer,
        account: id,
        secret,
        algorithm: 'sha1',
        digits: 6,
        periodSeconds: 30,
      });
      const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      await record(request, 'person.totp-enrolled', id, { replaced: person.totpEnrolled });
      // Shown once: no cache, no copy anywhere but the administrator's screen.
      reply.header('cache-control', 'no-store');
      return { otpauthUri: uri, qrSvg, sync: await sync(person.sites) };
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
          { keepEvents, ...(reference ? { reference: reference.trim() } : {}) },
          actor(request),
        ),
      );
      return { report, sync: await sync(sites) };
    },
  );
};
