import type {} from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AuthErrors } from '../auth/auth-errors.js';
import type { Authenticated, AuthService, RequestMeta } from '../auth/auth-service.js';
import type { Role } from '../auth/staff-store.js';

/**
 * Access control for every route, declared on the route itself:
 * `config: { roles: ['admin'] }` (who may call it), `roles: 'public'`, `roles: 'workstation'` (called by
 * an ident workstation with its own bearer token, never by staff), `stage: 'pending'` (reachable
 * before the second factor), `reauth: true` (password and code confirmed in the last minutes).
 * A route that declares nothing is refused: least privilege is the default. State-changing
 * requests must carry the session's CSRF token and come from the dashboard's own origin.
 */
export interface RouteAccess {
  roles?: readonly Role[] | 'public' | 'workstation';
  stage?: 'pending';
  reauth?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig extends RouteAccess {}
  interface FastifyRequest {
    auth?: Authenticated;
    sessionToken?: string;
    /** The workstation whose token authenticated this request (`roles: 'workstation'` routes). */
    workstationId?: string;
    /**
     * The address the request counts as coming from: the socket's, or behind trusted proxies the
     * client's as the outermost one saw it (client-address.ts). Not `request.ip`, the socket's.
     */
    readonly clientAddress: string;
  }
}

export const SESSION_COOKIE = '__Host-identgate-session';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function requestMeta(request: FastifyRequest): RequestMeta {
  const agent = request.headers['user-agent'];
  return { address: request.clientAddress, ...(typeof agent === 'string' ? { userAgent: agent } : {}) };
}

/** The signed-in staff member a request acts as, as the audit log names them: `staff:<login>`. */
export function staffActor(request: FastifyRequest): string {
  const login = request.auth?.account.login;
  if (!login) throw new AuthErrors.unauthenticated();
  return `staff:${login}`;
}

export function setSessionCookie(reply: FastifyReply, token: string, maxAgeMs: number): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
    maxAge: Math.floor(maxAgeMs / 1000),
  });
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
}

/** A state change must come from this dashboard's own pages, not from another site. */
export function assertSameOrigin(request: FastifyRequest): void {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new AuthErrors.origin();
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const host = request.headers.host;
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      throw new AuthErrors.origin();
    }
    if (originHost !== host) throw new AuthErrors.origin();
  } else if (origin === 'null') {
    throw new AuthErrors.origin();
  }
}

/** Checks a workstation's bearer token against the workstation named in the route's `:id`. */
export interface WorkstationAuthenticator {
  authenticate(workstationId: string, token: string): boolean;
  /** Told of every refusal before the 401 leaves (to audit it); must not throw. */
  refused?(workstationId: unknown, token: string, route: string): Promise<void>;
}

export interface AuthPluginOptions {
  auth: AuthService;
  workstations?: WorkstationAuthenticator;
}

const plugin: FastifyPluginAsync<AuthPluginOptions> = async (app, { auth, workstations }) => {
  // Before validation: without a session, nothing about a route's input is revealed.
  app.addHook('preValidation', async (request) => {
    const access = request.routeOptions.config as RouteAccess;
    if (access.roles === 'workstation') {
      // Not a browser: no cookie, hence no CSRF; the token alone authenticates, for its own id only.
      const header = request.headers.authorization;
      const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
      const id = (request.params as { id?: unknown }).id;
      if (!workstations || !token || typeof id !== 'string' || !workstations.authenticate(id, token)) {
        await workstations?.refused?.(id, token, request.routeOptions.url ?? '');
        throw new AuthErrors.workstation();
      }
      request.workstationId = id;
      return;
    }
    const token = request.cookies[SESSION_COOKIE];
    if (token) request.sessionToken = token;
    const current = await auth.current(token);
    if (current) request.auth = current;
    // Unknown routes (404) and static files are public; everything else must say who may call it.
    if (access.roles === 'public' || request.routeOptions.url === undefined) {
      if (UNSAFE.has(request.method)) assertSameOrigin(request);
      return;
    }
    if (!access.roles) throw new AuthErrors.forbidden();
    if (!current) throw new AuthErrors.unauthenticated();
    if (current.session.stage !== 'active' && access.stage !== 'pending') {
      throw new AuthErrors.stage(
        current.session.stage === 'enrol' ? 'set up your authenticator first' : 'enter your code first',
      );
    }
    if (!access.roles.includes(current.account.role)) throw new AuthErrors.forbidden();
    if (UNSAFE.has(request.method)) {
      assertSameOrigin(request);
      const presented = request.headers['x-csrf-token'];
      if (!auth.csrfMatches(current.session, typeof presented === 'string' ? presented : undefined))
        throw new AuthErrors.csrf();
    }
    if (access.reauth && !auth.isFresh(current.session)) throw new AuthErrors.reauth();
  });
};

export const authPlugin = fp(plugin, { name: 'identgate-auth' });
