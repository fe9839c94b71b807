import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { lineOfText } from '../../../lib/line-of-text.js';
import { AuthErrors } from '../../auth/auth-errors.js';
import type { AuthService } from '../../auth/auth-service.js';
import { MAX_PASSWORD_LENGTH } from '../../auth/password-policy.js';
import { clearSessionCookie, requestMeta, setSessionCookie } from '../auth-plugin.js';
import { Access } from '../roles.js';
import { ErrorSchema } from '../schemas.js';

const Login = lineOfText(64);
const Password = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH * 4 });
const Code = Type.String({ pattern: '^\\d{6}$' });
const Stage = Type.Union([Type.Literal('totp'), Type.Literal('enrol'), Type.Literal('active')]);
const Errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  409: ErrorSchema,
  429: ErrorSchema,
  503: ErrorSchema,
};

/** Sign-in, the second factor, TOTP enrolment, re-authentication, password change, sign-out. */
export const authRoutes: FastifyPluginAsyncTypebox<{ auth: AuthService }> = async (app, { auth }) => {
  const all = Access.anyStaff;

  app.get(
    '/api/v1/session',
    {
      config: { roles: 'public' },
      schema: {
        response: {
          200: Type.Union([
            Type.Object({ authenticated: Type.Literal(false) }),
            Type.Object({
              authenticated: Type.Literal(true),
              login: Type.String(),
              displayName: Type.String(),
              role: Type.String(),
              stage: Stage,
              csrfToken: Type.String(),
              reauthFresh: Type.Boolean(),
            }),
          ]),
        },
      },
    },
    async (request) => {
      const current = request.auth;
      if (!current) return { authenticated: false as const };
      return {
        authenticated: true as const,
        login: current.account.login,
        displayName: current.account.displayName,
        role: current.account.role,
        stage: current.session.stage,
        csrfToken: current.session.csrfToken,
        reauthFresh: auth.isFresh(current.session),
      };
    },
  );

  app.post(
    '/api/v1/setup',
    {
      config: { roles: 'public' },
      schema: {
        body: Type.Object(
          {
            token: Type.String({ minLength: 10, maxLength: 64 }),
            login: Login,
            displayName: lineOfText(120),
            password: Password,
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ login: Type.String() }), ...Errors },
      },
    },
    async (request, reply) => {
      const { token, ...input } = request.body;
      const account = await auth.setup(token, input);
      return reply.code(201).send({ login: account.login });
    },
  );

  app.post(
    '/api/v1/auth/login',
    {
      config: { roles: 'public' },
      schema: {
        body: Type.Object({ login: Login, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ stage: Stage }), ...Errors },
      },
    },
    async (request, reply) => {
      if (request.sessionToken) await auth.logout(request.sessionToken);
      const { token, session } = await auth.login(
        request.body.login,
        request.body.password,
        requestMeta(request),
      );
      setSessionCookie(reply, token, auth.settings.absoluteMs);
      return { stage: session.stage };
    },
  );

  app.post(
    '/api/v1/auth/code',
    {
      config: { roles: all, stage: 'pending' },
      schema: {
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: Type.Object({ stage: Stage }), ...Errors },
      },
    },
    async (request) => {
      const result = await auth.secondFactor(
        request.sessionToken as string,
        request.body.code,
        requestMeta(request),
      );
      return { stage: result.session.stage };
    },
  );

  app.post(
    '/api/v1/auth/enrolment',
    {
      config: { roles: all, stage: 'pending' },
      schema: {
        response: {
          200: Type.Object({ otpauthUri: Type.String(), secret: Type.String(), qrSvg: Type.String() }),
          ...Errors,
        },
      },
    },
    async (request) => auth.startEnrolment(request.sessionToken as string),
  );

  app.post(
    '/api/v1/auth/enrolment/confirm',
    {
      config: { roles: all, stage: 'pending' },
      schema: {
        body: Type.Object({ code: Code }, { additionalProperties: false }),
        response: { 200: Type.Object({ stage: Stage }), ...Errors },
      },
    },
    async (request) => {
      const result = await auth.confirmEnrolment(
        request.sessionToken as string,
        request.body.code,
        requestMeta(request),
      );
      return { stage: result.session.stage };
    },
  );

  app.post(
    '/api/v1/auth/reauth',
    {
      config: { roles: all },
      schema: {
        body: Type.Object({ password: Password, code: Code }, { additionalProperties: false }),
        response: { 200: Type.Object({ reauthFresh: Type.Boolean() }), ...Errors },
      },
    },
    async (request) => {
      await auth.reauthenticate(
        request.sessionToken as string,
        request.body.password,
        request.body.code,
        requestMeta(request),
      );
      return { reauthFresh: true };
    },
  );

  app.post(
    '/api/v1/auth/password',
    {
      config: { roles: all },
      schema: {
        body: Type.Object({ current: Password, next: Password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...Errors },
      },
    },
    async (request, reply) => {
      await auth.changePassword(
        request.sessionToken as string,
        request.body.current,
        request.body.next,
        requestMeta(request),
      );
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { config: { roles: all, stage: 'pending' }, schema: { response: { 204: Type.Null(), ...Errors } } },
    async (request, reply) => {
      if (!request.sessionToken) throw new AuthErrors.unauthenticated();
      await auth.logout(request.sessionToken);
      clearSessionCookie(reply);
      return reply.code(204).send(null);
    },
  );
};
