import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import QRCode from 'qrcode';
import Type from 'typebox';
import { agentOtpauthUri } from '../../people/people-enrolment.js';
import { asHttp } from '../admin-errors.js';
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
  { admin, issuer },
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
      const { sites } = await admin.enrolment.addBadge(admin.actor(request), id, badge, {
        ...(validFrom ? { from: new Date(validFrom) } : {}),
        ...(validUntil ? { until: new Date(validUntil) } : {}),
      });
      return { person: await admin.existing(id), sync: await admin.sync(sites) };
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
      const { sites } = await admin.enrolment.revokeBadge(admin.actor(request), id, badge);
      return { person: await admin.existing(id), sync: await admin.sync(sites) };
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
      const { sites } = await admin.enrolment.grantSite(admin.actor(request), id, site);
      return { person: await admin.existing(id), sync: await admin.sync(sites) };
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
      const { sites } = await admin.enrolment.withdrawSite(admin.actor(request), id, site);
      return { person: await admin.existing(id), sync: await admin.sync(sites) };
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
      const { secret, sites } = await asHttp(() => admin.enrolment.enrolTotp(admin.actor(request), id));
      const uri = agentOtpauthUri(issuer, id, secret);
      const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      // Shown once: no cache, no copy anywhere but the administrator's screen.
      reply.header('cache-control', 'no-store');
      return { otpauthUri: uri, qrSvg, sync: await admin.sync(sites) };
    },
  );
};
