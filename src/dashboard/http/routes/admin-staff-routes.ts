import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { lineOfText } from '../../../lib/line-of-text.js';
import { AuthErrors } from '../../auth/auth-errors.js';
import type { AuthService } from '../../auth/auth-service.js';
import { MAX_PASSWORD_LENGTH } from '../../auth/password-policy.js';
import type { StaffInvitations } from '../../auth/staff-invitations.js';
import type { StaffAccount, StaffStore } from '../../auth/staff-store.js';
import { requestMeta } from '../auth-plugin.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

export interface AdminStaffRoutesOptions {
  auth: AuthService;
  staff: StaffStore;
  invitations: StaffInvitations;
}

const Errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  503: ErrorSchema,
};
const Login = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$' });
const DisplayName = lineOfText(120);
const Role = Type.Union([Type.Literal('admin'), Type.Literal('security'), Type.Literal('auditor')]);
const Time = Type.String({ format: 'date-time' });
const StaffView = Type.Object({
  login: Type.String(),
  displayName: Type.String(),
  role: Role,
  disabled: Type.Boolean(),
  totpEnrolled: Type.Boolean(),
  /** The account waits for its owner to use the enrolment link. */
  invitationPending: Type.Boolean(),
  createdAt: Time,
});
const Invitation = Type.Object({
  /** Goes into the link `https://<dashboard>/#invite=<token>`; shown to the administrator once. */
  token: Type.String(),
  expiresAt: Time,
});

const view = (account: StaffAccount, pending: Set<string>) => ({
  login: account.login,
  displayName: account.displayName,
  role: account.role,
  disabled: account.disabledAt !== null,
  totpEnrolled: account.totpSecretSealed !== null,
  invitationPending: pending.has(account.id),
  createdAt: account.createdAt.toISOString(),
});

/**
 * Staff accounts, for administrators: list, create (with a one-time enrolment link, never a
 * password the administrator knows), change the role, disable and enable, reset a lost
 * authenticator, issue a new link for a forgotten password. Every change needs a fresh
 * re-authentication, ends the account's sessions and is audited (AuthService.administer).
 */
export const adminStaffRoutes: FastifyPluginAsyncTypebox<AdminStaffRoutesOptions> = async (
  app,
  { auth, staff, invitations },
) => {
  const actor = (request: FastifyRequest): StaffAccount => {
    if (!request.auth) throw new AuthErrors.unauthenticated();
    return request.auth.account;
  };

  app.get(
    '/api/v1/staff',
    {
      config: { roles: Access.administer },
      schema: {
        description: 'Every staff account with its role and state.',
        response: { 200: Type.Object({ accounts: Type.Array(StaffView) }), ...Errors },
      },
    },
    async () => {
      const pending = await invitations.pending();
      return { accounts: (await staff.list()).map((a) => view(a, pending)) };
    },
  );

  app.post(
    '/api/v1/staff',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          'Creates a personal account and returns its one-time enrolment link token (valid 72 h); the owner sets the password through it and enrols an authenticator at the first sign-in.',
        body: Type.Object(
          { login: Login, displayName: DisplayName, role: Role },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ account: StaffView, invitation: Invitation }), ...Errors },
      },
    },
    async (request, reply) => {
      const { account, invitation } = await invitations.create(actor(request), {
        ...request.body,
        displayName: request.body.displayName.trim(),
      });
      return reply.code(201).send({ account: view(account, new Set([account.id])), invitation });
    },
  );

  app.patch(
    '/api/v1/staff/:login',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          "Changes another account's role, disables or enables it, or resets its authenticator; its sessions end. The last enabled administrator cannot be demoted or disabled, nor can you change your own role.",
        params: Type.Object({ login: Login }, { additionalProperties: false }),
        body: Type.Object(
          {
            role: Type.Optional(Role),
            disabled: Type.Optional(Type.Boolean()),
            resetTotp: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: StaffView, ...Errors },
      },
    },
    async (request) => {
      const account = await auth.administer(actor(request), request.params.login, request.body);
      return view(account, await invitations.pending());
    },
  );

  app.post(
    '/api/v1/staff/:login/invitation',
    {
      config: { roles: Access.administer, reauth: true },
      schema: {
        description:
          'A new one-time enrolment link for a forgotten password: the current password stops working and the sessions end. A disabled account takes `?enable=true`, which enables it in the same change (enabled first, its old password would work until the link).',
        params: Type.Object({ login: Login }, { additionalProperties: false }),
        querystring: Type.Object({ enable: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
        response: { 200: Invitation, ...Errors },
      },
    },
    async (request) =>
      invitations.reissue(actor(request), request.params.login, { enable: request.query.enable === true }),
  );

  app.post(
    '/api/v1/invitation',
    {
      config: { roles: 'public' },
      schema: {
        description: 'The owner of a new account sets their password with the token from the enrolment link.',
        body: Type.Object(
          {
            token: Type.String({ minLength: 20, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH * 4 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ login: Type.String() }), ...Errors },
      },
    },
    async (request) => {
      const account = await invitations.accept(
        request.body.token,
        request.body.password,
        requestMeta(request).address,
      );
      return { login: account.login };
    },
  );
};
