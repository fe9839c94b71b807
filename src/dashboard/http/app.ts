import type { KeyObject } from 'node:crypto';
import type { TlsOptions } from 'node:tls';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import type { Pool } from 'pg';
import { systemClock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { packageInfo } from '../../lib/package-root.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { RetiredKey } from '../audit/central-keys.js';
import type { AuthService } from '../auth/auth-service.js';
import type { StaffStore } from '../auth/staff-store.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { LiveHub } from '../live-hub.js';
import type { LoginCheckThrottle } from '../presence/login-check-throttle.js';
import type { PresenceService } from '../presence/presence-service.js';
import type { WorkstationAgents } from '../presence/workstation-agents.js';
import type { WorkstationLocker } from '../presence/workstation-locker.js';
import { WorkstationRefusals } from '../presence/workstation-refusals.js';
import type { RetentionService } from '../retention/retention-service.js';
import type { AlarmStore } from '../storage/alarm-store.js';
import { isTransientError } from '../storage/database.js';
import type { EventStore } from '../storage/event-store.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import { OverviewStore } from '../storage/overview-store.js';
import type { PeopleStore } from '../storage/people-store.js';
import type { PhotoStore } from '../storage/photo-store.js';
import type { VideoService } from '../video/video-service.js';
import { authPlugin, type RouteAccess } from './auth-plugin.js';
import { clientAddress, trustedProxyMatcher } from './client-address.js';
import { Access } from './roles.js';
import { actionRoutes } from './routes/action-routes.js';
import { adminRoutes } from './routes/admin-routes.js';
import { alarmsRoutes } from './routes/alarms-routes.js';
import { auditRoutes } from './routes/audit-routes.js';
import { authRoutes } from './routes/auth-routes.js';
import { eventsRoutes } from './routes/events-routes.js';
import { exportRoutes } from './routes/export-routes.js';
import { liveRoutes } from './routes/live-routes.js';
import { overviewRoutes } from './routes/overview-routes.js';
import { photoRoutes } from './routes/photo-routes.js';
import { videoRoutes } from './routes/video-routes.js';
import { webRoutes } from './routes/web-routes.js';
import { workstationRoutes } from './routes/workstation-routes.js';

export interface RouteEntry {
  method: string;
  url: string;
  /** 'public', or the roles that may call it; empty: nobody (refused). */
  roles: RouteAccess['roles'] | readonly [];
  reauth: boolean;
  stage: RouteAccess['stage'];
}

declare module 'fastify' {
  interface FastifyInstance {
    routeTable: RouteEntry[];
  }
}

export interface AppDependencies {
  pool: Pool;
  auth: AuthService;
  audit: AuditLog;
  staff: StaffStore;
  alarms: AlarmStore;
  people: PeopleStore;
  photos: PhotoStore;
  registry: GatewayRegistry;
  retention: RetentionService;
  /** The messenger to the gateways (commands, credential sets); it starts after the HTTP server. */
  messenger: () => CentralMessenger;
  events: EventStore;
  /** Playback of footage from the gateways; starts after the HTTP server. */
  video?: () => VideoService | undefined;
  hub: LiveHub;
  log: Logger;
  /** Presence and workstation credentials, for workstation login checks. */
  presence: PresenceService;
  /** Lock on leave's sender, told each lock result; without it results are only audited. */
  locker?: WorkstationLocker;
  /** The lock agents' heartbeats. */
  agents?: WorkstationAgents;
  /** Throttles each workstation's login checks. */
  loginChecks: LoginCheckThrottle;
  /** Checks the database; rejects when it is unreachable. */
  ping: () => Promise<void>;
  /** Whether this instance hears what every dashboard instance stores (ClusterEvents.hearing). */
  hearing?: () => boolean;
  /** What the dashboard still waits for before it is fit to serve (the broker at start), if anything. */
  waitingFor?: () => string | undefined;
  /** The central signing key: signs auditors' export bundles (exports are off without it). */
  signingKey?: KeyObject;
  /** The keys signingKey replaced (keys.retiredSigning), for exports. */
  retiredKeys?: readonly RetiredKey[];
  /** `http.trustedProxies`: addresses and CIDR ranges whose X-Forwarded-For is read; none without. */
  trustedProxies?: readonly string[];
  /** Serve HTTPS with these options (the TLS profile's, from `httpsOptions`); plain HTTP without. */
  https?: TlsOptions;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

/** Sent over HTTPS only (RFC 6797 ignores it over HTTP): browsers then refuse plain HTTP for a year. */
const HSTS = 'max-age=31536000';

/** Builds the dashboard's HTTP application; `server.ts` makes it listen. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    // HTTPS with the TLS profile when configured; plain HTTP only on loopback (checked by the caller).
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // Fastify's walk over X-Forwarded-For believes whatever a trusted hop passes on, even text
    // that is no address: request.ip stays the socket's, and request.clientAddress is the client.
    trustProxy: false,
    return503OnClosing: true,
    // Live streams would otherwise hold a stop open until each browser lets go.
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // The address the throttle and the audit log count (client-address.ts), worked out when asked.
  const isTrustedProxy = trustedProxyMatcher(deps.trustedProxies ?? []);
  app.decorateRequest('clientAddress', {
    getter(this: FastifyRequest) {
      return clientAddress(this.socket.remoteAddress, this.headers['x-forwarded-for'], isTrustedProxy);
    },
  });

  // Every route with who may call it: the role × route matrix (docs/dashboard.md) and its test.
  const routes: RouteEntry[] = [];
  app.decorate('routeTable', routes);
  app.addHook('onRoute', (route) => {
    // The OpenAPI description and its viewer (registered by @fastify/swagger-ui without a role):
    // for signed-in staff, whom it shows what each role may call.
    if (route.url.startsWith('/docs') && !(route.config as RouteAccess | undefined)?.roles) {
      route.config = { ...route.config, roles: Access.anyStaff } as typeof route.config;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const access = (route.config ?? {}) as RouteAccess;
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routes.push({
        method,
        url: route.url,
        roles: access.roles ?? [],
        reauth: access.reauth === true,
        stage: access.stage,
      });
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    if (deps.https) reply.header('strict-transport-security', HSTS);
    // API answers carry personal data (names, badges, movements): no copy in a browser's or a
    // proxy's cache. A route may say more (photos: `private, no-store`). Judged by the route
    // matched, not the raw URL, which may spell the path percent-encoded (`/%61pi/…`); an
    // answer no route matched (404) is not stored either.
    const route = request.routeOptions.url;
    if (route === undefined || route.startsWith('/api/')) reply.header('cache-control', 'no-store');
  });
  app.setErrorHandler(
    (error: Error & { statusCode?: number; code?: string; validation?: unknown }, request, reply) => {
      if (!(error.statusCode && error.statusCode >= 400) && databaseUnavailable(error)) {
        // The database could not do it now (unreachable, a deadlock, a lock that timed out, a full
        // disk): a condition that passes, so the caller is told to try again rather than that
        // something broke. Not that nothing changed: a route may have committed a change before a
        // later statement failed, or the connection may have gone during the COMMIT.
        request.log.error({ err: error, url: request.url }, 'request failed: database unavailable');
        reply.header('retry-after', String(DATABASE_RETRY_SECONDS));
        return reply.code(503).send({
          statusCode: 503,
          code: DATABASE_UNAVAILABLE,
          error: httpStatusText(503),
          message:
            'the database could not complete the request now (unreachable or busy); try again shortly, but look first whether a change you asked for was made',
        });
      }
      const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
      if (statusCode >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
      const code = answeredCode(error, statusCode);
      // 502-504 are coded answers about a gateway or the broker, written for the person asking.
      const told = statusCode < 500 || (code.startsWith('IDG_') && statusCode >= 502 && statusCode <= 504);
      const message = told ? error.message : 'internal error';
      return reply.code(statusCode).send({ statusCode, code, error: httpStatusText(statusCode), message });
    },
  );
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      statusCode: 404,
      code: 'IDG_HTTP_NOT_FOUND',
      error: 'Not Found',
      message: `not found: ${request.method} ${request.url.split('?')[0]}`,
    }),
  );

  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'identgate dashboard API',
        version: packageInfo().version,
        description:
          'Every route needs a signed-in staff session (cookie) unless marked public; state changes also need the x-csrf-token header from GET /api/v1/session. The roles allowed are listed per route (docs/dashboard.md).',
      },
      components: {
        securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: '__Host-identgate-session' } },
      },
      security: [{ session: [] }],
    },
    transform: ({ schema, url, route }) => {
      const access = (route.config ?? {}) as { roles?: readonly string[] | string; reauth?: boolean };
      const roles =
        typeof access.roles === 'string' ? access.roles : (access.roles ?? []).join(', ') || 'nobody';
      const note = `Roles: ${roles}${access.reauth ? '; needs a fresh re-authentication' : ''}.`;
      const described = { ...schema, description: [schema?.description, note].filter(Boolean).join(' ') };
      return { schema: described as typeof schema, url };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
  // A refused workstation credential is audited (rate-limited), never with the token.
  const refusals = new WorkstationRefusals({ audit: deps.audit, clock: systemClock, log: deps.log });
  app.addHook('onClose', () => refusals.flush());
  await app.register(authPlugin, {
    auth: deps.auth,
    workstations: {
      authenticate: (id, token) => deps.presence.authenticate(id, token),
      refused: (id, token, route) =>
        refusals.refused({ workstation: id, route, ...deps.presence.refusal(id, token) }),
    },
  });
  await app.register(authRoutes, { auth: deps.auth });

  app.get('/healthz', { config: { roles: 'public' } }, async (_request, reply) => {
    try {
      await deps.ping();
    } catch {
      return reply.code(503).send({ status: 'database unavailable' });
    }
    // Its presence may lack other instances' events, so it denies workstation logins: not fit to
    // serve them, and a load balancer should send them elsewhere.
    const waiting = deps.waitingFor?.();
    if (waiting) return reply.code(503).send({ status: waiting });
    if (deps.hearing && !deps.hearing())
      return reply.code(503).send({ status: 'not hearing other instances' });
    return { status: 'ok' };
  });
  await app.register(eventsRoutes, { events: deps.events, audit: deps.audit });
  await app.register(liveRoutes, {
    events: deps.events,
    hub: deps.hub,
    stillValid: async (token) => (await deps.auth.current(token))?.session.stage === 'active',
  });
  // Monitoring: overview, alarms, door and room actions, event search, audit log.
  const overview = new OverviewStore(deps.pool, deps.log);
  await app.register(overviewRoutes, { overview });
  await app.register(alarmsRoutes, {
    pool: deps.pool,
    alarms: deps.alarms,
    audit: deps.audit,
    hub: deps.hub,
    log: deps.log,
  });
  await app.register(actionRoutes, {
    audit: deps.audit,
    registry: deps.registry,
    overview,
    messenger: deps.messenger,
  });
  await app.register(auditRoutes, { audit: deps.audit });
  await app.register(exportRoutes, {
    pool: deps.pool,
    ...(deps.signingKey ? { signingKey: deps.signingKey } : {}),
    ...(deps.retiredKeys ? { retiredKeys: deps.retiredKeys } : {}),
  });
  await app.register(photoRoutes, { pool: deps.pool, photos: deps.photos });
  await app.register(workstationRoutes, {
    presence: deps.presence,
    ...(deps.locker ? { locker: deps.locker } : {}),
    ...(deps.agents ? { agents: deps.agents } : {}),
    throttle: deps.loginChecks,
    audit: deps.audit,
    alarms: deps.alarms,
    hub: deps.hub,
  });
  await app.register(videoRoutes, {
    video: deps.video ?? (() => undefined),
    audit: deps.audit,
    log: deps.log,
  });
  // Administration: directory, people, staff accounts, retention.
  await app.register(adminRoutes, {
    credentialsChanged: () => deps.presence.refresh(),
    pool: deps.pool,
    auth: deps.auth,
    staff: deps.staff,
    audit: deps.audit,
    people: deps.people,
    retention: deps.retention,
    messenger: deps.messenger,
    log: deps.log,
  });
  await app.register(webRoutes);
  return app;
}

/**
 * The code an error answer carries: our own (`IDG_…`) as they are; anything else — a database's
 * SQLSTATE, a library's code — is logged above but never answered, as it tells an attacker what
 * failed where. Fastify's own refusals (a bad JSON body, a wrong content type) are bad requests.
 */
const DATABASE_UNAVAILABLE = 'IDG_DATABASE_UNAVAILABLE';
const DATABASE_RETRY_SECONDS = 5;
/** The ingest's own test of a condition that passes: the request may be tried again later. */
const databaseUnavailable = isTransientError;

function answeredCode(error: { code?: string; validation?: unknown }, statusCode: number): string {
  if (error.validation) return 'IDG_HTTP_BAD_REQUEST';
  if (error.code?.startsWith('IDG_')) return error.code;
  return statusCode >= 500 ? 'IDG_HTTP_INTERNAL' : 'IDG_HTTP_BAD_REQUEST';
}

function httpStatusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return texts[status] ?? (status >= 500 ? 'Internal Server Error' : 'Error');
}
