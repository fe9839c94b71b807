import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/dashboard/auth/staff-store.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * Every role × every API route, against the real dashboard: the expected access is written out
 * here, independently of the routes' own declarations, so that a route whose roles change, or a
 * new route nobody thought about, fails this test until the table below is changed on purpose.
 *
 * Allowed requests are sent with a body the route's schema refuses (400), so probing changes
 * nothing; the auth layer runs before validation, so a refusal (401/403) always wins over a 400.
 */
type Who = 'anonymous' | 'pending' | Role;
const ROLES: Role[] = ['admin', 'security', 'auditor'];

interface Expectation {
  /** Roles that may call it, 'public', or 'workstation' (a workstation's bearer token, never a staff session). */
  allow: readonly Role[] | 'public' | 'workstation';
  /** Reachable before the second factor. */
  pending?: boolean;
  /** Password and code confirmed in the last minutes. */
  reauth?: boolean;
  /** The status an allowed, fresh caller's probe gets. */
  ok: number;
  /** Probe path (route parameters filled in) when it differs from the route. */
  path?: string;
}

const ALL: Role[] = ['admin', 'security', 'auditor'];
const BAD_BODY = { 'not-a-field': true };

const EXPECTED: Record<string, Expectation> = {
  'GET /healthz': { allow: 'public', ok: 200 },
  'GET /api/v1/session': { allow: 'public', ok: 200 },
  'POST /api/v1/setup': { allow: 'public', ok: 400 },
  'POST /api/v1/auth/login': { allow: 'public', ok: 400 },
  'POST /api/v1/auth/code': { allow: ALL, pending: true, ok: 400 },
  'POST /api/v1/auth/enrolment': { allow: ALL, pending: true, reauth: true, ok: 200 },
  'POST /api/v1/auth/enrolment/confirm': { allow: ALL, pending: true, ok: 400 },
  'POST /api/v1/auth/logout': { allow: ALL, pending: true, ok: 204 },
  'POST /api/v1/auth/password': { allow: ALL, ok: 400 },
  'POST /api/v1/auth/reauth': { allow: ALL, ok: 400 },
  'GET /api/v1/overview': { allow: ['admin', 'security'], ok: 200 },
  'GET /api/v1/live': { allow: ['admin', 'security'], ok: 200 },
  'GET /api/v1/alarms': { allow: ['admin', 'security', 'auditor'], ok: 200 },
  'POST /api/v1/alarms/:id/acknowledge': {
    allow: ['security'],
    ok: 400,
    path: '/api/v1/alarms/1/acknowledge',
  },
  'POST /api/v1/alarms/:id/resolve': { allow: ['security'], ok: 400, path: '/api/v1/alarms/1/resolve' },
  'GET /api/v1/directory': { allow: ALL, ok: 200 },
  'PUT /api/v1/directory/customers/:id': {
    allow: ['admin'],
    ok: 400,
    path: '/api/v1/directory/customers/c-1',
  },
  'PUT /api/v1/directory/sites/:id': { allow: ['admin'], ok: 400, path: '/api/v1/directory/sites/site-a' },
  'PUT /api/v1/directory/sites/:site/cameras/:id': {
    allow: ['admin'],
    ok: 400,
    path: '/api/v1/directory/sites/site-a/cameras/cam-1',
  },
  'PUT /api/v1/directory/sites/:site/doors/:id': {
    allow: ['admin'],
    ok: 400,
    path: '/api/v1/directory/sites/site-a/doors/main',
  },
  'PUT /api/v1/directory/sites/:site/readers/:id': {
    allow: ['admin'],
    ok: 400,
    path: '/api/v1/directory/sites/site-a/readers/r-1',
  },
  'PUT /api/v1/directory/sites/:site/rooms/:id': {
    allow: ['admin'],
    ok: 400,
    path: '/api/v1/directory/sites/site-a/rooms/room-1',
  },
  'POST /api/v1/invitation': { allow: 'public', ok: 400 },
  'GET /api/v1/people': { allow: ['admin'], ok: 200 },
  'POST /api/v1/people': { allow: ['admin'], ok: 400 },
  'GET /api/v1/people/:id': { allow: ['admin'], ok: 404, path: '/api/v1/people/nobody' },
  'PATCH /api/v1/people/:id': { allow: ['admin'], ok: 400, path: '/api/v1/people/nobody' },
  'POST /api/v1/people/:id/badges': { allow: ['admin'], ok: 400, path: '/api/v1/people/nobody/badges' },
  'POST /api/v1/people/:id/badges/:badge/revoke': {
    allow: ['admin'],
    ok: 404,
    path: '/api/v1/people/nobody/badges/b-1/revoke',
  },
  'POST /api/v1/people/:id/erase': {
    allow: ['admin'],
    reauth: true,
    ok: 400,
    path: '/api/v1/people/nobody/erase',
  },
  'DELETE /api/v1/people/:id/sites/:site': {
    allow: ['admin'],
    ok: 404,
    path: '/api/v1/people/nobody/sites/site-a',
  },
  'PUT /api/v1/people/:id/sites/:site': {
    allow: ['admin'],
    ok: 404,
    path: '/api/v1/people/nobody/sites/site-a',
  },
  'POST /api/v1/people/:id/totp': {
    allow: ['admin'],
    reauth: true,
    ok: 404,
    path: '/api/v1/people/nobody/totp',
  },
  'GET /api/v1/retention/deletion-log': { allow: ['admin'], ok: 200 },
  'GET /api/v1/retention/holds': { allow: ['admin'], ok: 200 },
  'POST /api/v1/retention/holds': { allow: ['admin'], reauth: true, ok: 400 },
  'POST /api/v1/retention/holds/:id/release': {
    allow: ['admin'],
    reauth: true,
    ok: 404,
    path: '/api/v1/retention/holds/1/release',
  },
  'GET /api/v1/retention/policies': { allow: ['admin'], ok: 200 },
  'PUT /api/v1/retention/policies': { allow: ['admin'], reauth: true, ok: 400 },
  'POST /api/v1/retention/policies/remove': { allow: ['admin'], reauth: true, ok: 400 },
  'GET /api/v1/staff': { allow: ['admin'], ok: 200 },
  'POST /api/v1/staff': { allow: ['admin'], reauth: true, ok: 400 },
  'PATCH /api/v1/staff/:login': { allow: ['admin'], reauth: true, ok: 400, path: '/api/v1/staff/nobody' },
  'POST /api/v1/staff/:login/invitation': {
    allow: ['admin'],
    reauth: true,
    ok: 404,
    path: '/api/v1/staff/nobody/invitation',
  },
  'GET /api/v1/photos': { allow: ['admin', 'security'], ok: 200 },
  'GET /api/v1/people/:id/photo': {
    allow: ['admin', 'security'],
    ok: 404,
    path: '/api/v1/people/nobody/photo',
  },
  'PUT /api/v1/people/:id/photo': { allow: ['admin'], ok: 400, path: '/api/v1/people/nobody/photo' },
  'DELETE /api/v1/people/:id/photo': { allow: ['admin'], ok: 404, path: '/api/v1/people/nobody/photo' },
  'GET /api/v1/events': { allow: ['security', 'auditor'], ok: 200 },
  // Footage: no query / no event id, so the probe never reaches a gateway.
  'GET /api/v1/cameras/:site/:gateway/:camera/footage': {
    allow: ['security', 'auditor'],
    ok: 400,
    path: '/api/v1/cameras/site-1/gw-1/cam-1/footage',
  },
  'GET /api/v1/events/:id/clip': {
    allow: ['security', 'auditor'],
    ok: 400,
    path: '/api/v1/events/not-an-id/clip',
  },
  'GET /api/v1/events/:id/snapshot': {
    allow: ['security', 'auditor'],
    ok: 400,
    path: '/api/v1/events/not-an-id/snapshot',
  },
  'GET /api/v1/audit': { allow: ['admin', 'auditor'], ok: 200 },
  'POST /api/v1/exports': { allow: ['auditor'], reauth: true, ok: 400 },
  'POST /api/v1/doors/:site/:gateway/:door/unlock': {
    allow: ['security'],
    reauth: true,
    ok: 400,
    path: '/api/v1/doors/site-a/gw-1/main/unlock',
  },
  'POST /api/v1/sites/:site/lockdown': {
    allow: ['security'],
    reauth: true,
    ok: 400,
    path: '/api/v1/sites/site-a/lockdown',
  },
  'POST /api/v1/sites/:site/evacuation': {
    allow: ['security'],
    reauth: true,
    ok: 400,
    path: '/api/v1/sites/site-a/evacuation',
  },
  'GET /api/v1/workstations': { allow: ['admin', 'security'], ok: 200 },
  'POST /api/v1/workstations/:id/login-check': {
    allow: 'workstation',
    ok: 401,
    path: '/api/v1/workstations/ws-1/login-check',
  },
  'POST /api/v1/workstations/:id/break-glass': {
    allow: 'workstation',
    ok: 401,
    path: '/api/v1/workstations/ws-1/break-glass',
  },
  'POST /api/v1/workstations/:id/lock-result': {
    allow: 'workstation',
    ok: 401,
    path: '/api/v1/workstations/ws-1/lock-result',
  },
  'POST /api/v1/workstations/:id/agent-heartbeat': {
    allow: 'workstation',
    ok: 401,
    path: '/api/v1/workstations/ws-1/agent-heartbeat',
  },
};

/** The status and error code a caller should get, before any re-authentication. */
function expected(route: Expectation, who: Who): { status: number; code?: string } {
  if (route.allow === 'public') return { status: route.ok };
  if (route.allow === 'workstation') return { status: 401, code: 'IDG_AUTH_WORKSTATION' };
  if (who === 'anonymous') return { status: 401, code: 'IDG_AUTH_REQUIRED' };
  if (who === 'pending') {
    if (!route.pending) return { status: 403, code: 'IDG_AUTH_STAGE' };
    return { status: route.ok === 200 && route.reauth ? 403 : route.ok };
  }
  if (!route.allow.includes(who)) return { status: 403, code: 'IDG_AUTH_FORBIDDEN' };
  if (route.reauth) return { status: 403, code: 'IDG_AUTH_REAUTH' };
  return { status: route.ok };
}

describe('the authorisation matrix: every role × every API route', () => {
  let system: TestSystem;
  const staff = new Map<Role, StaffClient>();
  /** A security account signed in with its password only, the code still to come. */
  let pendingCookie = '';
  let pendingCsrf = '';

  beforeAll(async () => {
    system = await startTestSystem();
    for (const role of ROLES) staff.set(role, await system.staff(role));
    const security = staff.get('security') as StaffClient;
    const login = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: security.login, password: security.password },
    });
    expect(login.json().stage).toBe('totp');
    const cookie = login.cookies.find((c) => c.name === '__Host-identgate-session');
    pendingCookie = `${cookie?.name}=${cookie?.value}`;
    const session = await system.dashboard.http.inject({
      method: 'GET',
      url: '/api/v1/session',
      headers: { cookie: pendingCookie },
    });
    pendingCsrf = session.json().csrfToken;
  });

  afterAll(async () => {
    await system?.stop();
  });

  const probe = async (key: string, who: Who): Promise<{ status: number; code?: string }> => {
    const route = EXPECTED[key] as Expectation;
    const [method, url] = key.split(' ') as [InjectOptions['method'], string];
    const path = route.path ?? url;
    const payload = method === 'GET' ? undefined : BAD_BODY;
    if (path === '/api/v1/live') return live(who);
    let response: LightMyRequestResponse;
    if (who === 'anonymous' || who === 'pending') {
      response = await system.dashboard.http.inject({
        method,
        url: path,
        headers: who === 'pending' ? { cookie: pendingCookie, 'x-csrf-token': pendingCsrf } : {},
        ...(payload ? { payload } : {}),
      });
    } else {
      response = await (staff.get(who) as StaffClient).request(method, path, payload);
    }
    const body = response.headers['content-type']?.toString().includes('json') ? response.json() : {};
    return { status: response.statusCode, ...(body.code ? { code: body.code } : {}) };
  };

  /** The live feed never ends: over real HTTP, read the status and hang up. */
  const live = async (who: Who): Promise<{ status: number; code?: string }> => {
    const cookie =
      who === 'anonymous' ? '' : who === 'pending' ? pendingCookie : (staff.get(who) as StaffClient).cookie;
    const abort = new AbortController();
    const response = await fetch(`${system.dashboard.url}/api/v1/live`, {
      headers: cookie ? { cookie } : {},
      signal: abort.signal,
    });
    const result: { status: number; code?: string } = { status: response.status };
    if (response.status !== 200) {
      const body = (await response.json()) as { code?: string };
      if (body.code) result.code = body.code;
    }
    abort.abort();
    return result;
  };

  it('lists every route the dashboard serves, and no other', () => {
    const served = system.dashboard.http.routeTable
      .filter((r) => r.url.startsWith('/api/') || r.url === '/healthz')
      .map((r) => `${r.method} ${r.url}`)
      .sort();
    expect(served).toEqual(Object.keys(EXPECTED).sort());
  });

  it('serves the OpenAPI description to signed-in staff only', async () => {
    const anonymous = await system.dashboard.http.inject({ method: 'GET', url: '/docs/json' });
    expect(anonymous.statusCode).toBe(401);
    const auditor = await (staff.get('auditor') as StaffClient).request('GET', '/docs/json');
    expect(auditor.statusCode).toBe(200);
    expect(auditor.json().paths['/api/v1/events'].get.description).toMatch(/Roles: security, auditor/);
  });

  for (const who of ['anonymous', 'pending', 'auditor', 'security', 'admin'] as const) {
    it(`answers ${who} on every route as the table says`, async () => {
      const mismatches: string[] = [];
      // Sign-out last: it ends the session the other probes use.
      const keys = Object.keys(EXPECTED).sort(
        (a, b) => Number(a.endsWith('/logout')) - Number(b.endsWith('/logout')),
      );
      for (const key of keys) {
        const want = expected(EXPECTED[key] as Expectation, who);
        const got = await probe(key, who);
        if (got.status !== want.status || (want.code && got.code !== want.code)) {
          mismatches.push(
            `${key}: expected ${want.status} ${want.code ?? ''}, got ${got.status} ${got.code ?? ''}`,
          );
        }
      }
      expect(mismatches).toEqual([]);
    });
  }

  it('lets each allowed role through a re-authenticated route once it has confirmed password and code', async () => {
    for (const role of ROLES) {
      const client = await system.staff(role);
      const routes = Object.entries(EXPECTED).filter(
        ([key, route]) =>
          route.reauth &&
          Array.isArray(route.allow) &&
          route.allow.includes(role) &&
          !key.endsWith('/enrolment'), // would start a new enrolment: covered in dashboard-auth-sessions
      );
      for (const [key, route] of routes) {
        const [method, url] = key.split(' ') as [InjectOptions['method'], string];
        const refused = await client.request(method, route.path ?? url, BAD_BODY);
        expect(refused.json().code, key).toBe('IDG_AUTH_REAUTH');
      }
      await client.reauth();
      for (const [key, route] of routes) {
        const [method, url] = key.split(' ') as [InjectOptions['method'], string];
        const response = await client.request(method, route.path ?? url, BAD_BODY);
        expect(response.statusCode, key).toBe(route.ok);
      }
    }
  });
});
