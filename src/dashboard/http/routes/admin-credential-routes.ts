import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import QRCode from 'qrcode';
import Type from 'typebox';
import { generateTotpSecret, otpauthUri } from '../../../controllers/totp-secret.js';
import type { PeopleDirectory } from '../../storage/people-directory.js';
import type { PeopleStore } from '../../storage/people-store.js';
import { AdminErrors, asHttp } from '../admin-errors.js';
import {
  Badge,
  Errors,
  Id,
  type PeopleAdmin,
  PersonParams,
  Sync,
  Time,
  WithSync,
} from '../admin-people-support.js';
import { Access } from '../roles.js';

export interface AdminCredentialRoutesOptions {
  people: PeopleStore;
  directory: PeopleDirectory;
  admin: PeopleAdmin;
  /** The issuer the authenticator app shows beside the code. */
  issuer: string;
}

/**
 * A person's credentials, for administrators: badges, site grants and the TOTP enrolment (the
 * secret shown once, after re-authentication). Each change is audited and the credential sets
 * of the sites concerned are published again at once, so the gateways decide with it.
 */
export const adminCredentialRoutes: FastifyPluginAsyncTypebox<AdminCredentialRoutesOptions> = async (
  app,
  { people, directory, admin, issuer },
) => {
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
      const person = await admin.existing(id);
      const owner = await directory.badgeOwner(badge);
      if (owner !== undefined && owner !== id)
        throw new AdminErrors.conflict(`badge ${badge} belongs to someone else; revoke it there first`);
      if (validFrom && validUntil && Date.parse(validUntil) <= Date.parse(validFrom))
        throw new AdminErrors.invalid('validUntil must be after validFrom');
      await admin.change(request, 'person.badge-added', id, { badge }, async (db) => {
        const validity = {
          ...(validFrom ? { from: new Date(validFrom) } : {}),
          ...(validUntil ? { until: new Date(validUntil) } : {}),
        };
        if (!(await people.addBadge(badge, id, validity, db)))
          throw new AdminErrors.conflict(`badge ${badge} belongs to someone else; revoke it there first`);
      });
      return { person: await admin.existing(id), sync: await admin.sync(person.sites) };
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
      const person = await admin.existing(id);
      if (!person.badges.some((b) => b.badge === badge && b.status === 'active'))
        throw new AdminErrors.notFound(`${id} has no active badge ${badge}`);
      await admin.change(request, 'person.badge-revoked', id, { badge }, async (db) => {
        if (!(await people.revokeBadge(badge, id, db)))
          throw new AdminErrors.notFound(`${id} has no active badge ${badge}`);
      });
      return { person: await admin.existing(id), sync: await admin.sync(person.sites) };
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
      await admin.existing(id);
      if (!(await directory.siteExists(site))) throw new AdminErrors.notFound(`no site "${site}"`);
      await admin.change(request, 'person.site-granted', id, { site }, (db) =>
        people.grantSite(id, site, db),
      );
      return { person: await admin.existing(id), sync: await admin.sync([site]) };
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
      await admin.existing(id);
      await admin.change(request, 'person.site-withdrawn', id, { site }, async (db) => {
        if (!(await directory.withdrawSite(id, site, db)))
          throw new AdminErrors.notFound(`${id} has no grant for site ${site}`);
      });
      return { person: await admin.existing(id), sync: await admin.sync([site]) };
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
      const person = await admin.existing(id);
      const secret = generateTotpSecret();
      await asHttp(() =>
        admin.change(request, 'person.totp-enrolled', id, { replaced: person.totpEnrolled }, (db) =>
          people.setTotpSecret(id, secret, db),
        ),
      );
      const uri = otpauthUri({
        issuer,
        account: id,
        secret,
        algorithm: 'sha1',
        digits: 6,
        periodSeconds: 30,
      });
      const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      // Shown once: no cache, no copy anywhere but the administrator's screen.
      reply.header('cache-control', 'no-store');
      return { otpauthUri: uri, qrSvg, sync: await admin.sync(person.sites) };
    },
  );
};
