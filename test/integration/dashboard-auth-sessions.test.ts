import type { FastifyInstance, InjectOptions } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { StaffClient } from '../helpers/staff.js';
import { cookieOf, staffAuthRequests } from '../helpers/staff-auth-requests.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const totp = new TotpVerifier();
const PASSWORD = 'lantern orchard quietly 42';

/**
 * Staff sessions on the real dashboard and PostgreSQL, through `inject()`: CSRF and origin checks,
 * the ways a session ends (logout, idle and absolute timeouts, a password change, a disabled
 * account), the last enabled administrator kept, re-authentication before enrolling a new
 * authenticator, no API route without a session, and the security headers.
 */
describe('dashboard staff authentication: sessions and re-authentication', () => {
  let system: TestSystem;
  let app: FastifyInstance;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    app = system.dashboard.http;
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    // The first administrator, through the setup link as on a new installation: with the one the
    // role-change test creates, the last-administrator test finds the two it needs.
    const setup = await app.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: {
        token: system.dashboard.setupToken,
        login: 'root-admin',
        displayName: 'Rita Root',
        password: PASSWORD,
      },
    });
    expect(setup.statusCode, setup.body).toBe(201);
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const { post, audit } = staffAuthRequests(() => ({ app, db }));

  describe('sessions', () => {
    it('refuses state changes without the CSRF token or from another site', async () => {
      const staff = await system.staff('security');
      const noToken = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/reauth',
        headers: { cookie: staff.cookie },
        payload: { password: 'x', code: '123456' },
      });
      expect(noToken.statusCode).toBe(403);
      expect(noToken.json().code).toBe('IDG_AUTH_CSRF');
      const crossSite = await staff.request(
        'POST',
        '/api/v1/auth/logout',
        {},
        { 'sec-fetch-site': 'cross-site' },
      );
      expect(crossSite.json().code).toBe('IDG_AUTH_ORIGIN');
      const otherOrigin = await staff.request(
        'POST',
        '/api/v1/auth/logout',
        {},
        { origin: 'https://evil.example', host: 'dashboard.example' },
      );
      expect(otherOrigin.json().code).toBe('IDG_AUTH_ORIGIN');
      const sameOrigin = await staff.request(
        'POST',
        '/api/v1/auth/logout',
        {},
        { origin: 'https://dashboard.example', host: 'dashboard.example', 'sec-fetch-site': 'same-origin' },
      );
      expect(sameOrigin.statusCode).toBe(204);
    });

    it('ends on logout: the cookie opens nothing afterwards', async () => {
      const staff = await system.staff('security');
      expect((await staff.request('POST', '/api/v1/auth/logout', {})).statusCode).toBe(204);
      const after = await staff.request('GET', '/api/v1/events');
      expect(after.statusCode).toBe(401);
      expect((await staff.request('GET', '/api/v1/session')).json()).toEqual({ authenticated: false });
    });

    it('ends after 30 idle minutes and 12 hours after sign-in', async () => {
      const idle = await system.staff('security');
      const absolute = await system.staff('auditor');
      await db.query(
        "UPDATE staff_sessions SET last_seen_at = now() - interval '31 minutes' WHERE staff_id = (SELECT id FROM staff_accounts WHERE login = $1)",
        [idle.login],
      );
      await db.query(
        "UPDATE staff_sessions SET expires_at = now() - interval '1 second' WHERE staff_id = (SELECT id FROM staff_accounts WHERE login = $1)",
        [absolute.login],
      );
      expect((await idle.request('GET', '/api/v1/events')).statusCode).toBe(401);
      expect((await absolute.request('GET', '/api/v1/events')).statusCode).toBe(401);
      const fresh = await system.staff('security');
      await db.query(
        "UPDATE staff_sessions SET last_seen_at = now() - interval '29 minutes' WHERE staff_id = (SELECT id FROM staff_accounts WHERE login = $1)",
        [fresh.login],
      );
      expect((await fresh.request('GET', '/api/v1/events')).statusCode).toBe(200);
    });

    it('a password change ends the other sessions, not the current one', async () => {
      const staff = await system.staff('auditor');
      const otherLogin = await post('/api/v1/auth/login', { login: staff.login, password: staff.password });
      const other = cookieOf(otherLogin);
      const next = 'a brand new passphrase 2026';
      const changed = await staff.request('POST', '/api/v1/auth/password', { current: staff.password, next });
      expect(changed.statusCode).toBe(204);
      expect(
        (await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie: other } })).json(),
      ).toEqual({ authenticated: false });
      expect((await staff.request('GET', '/api/v1/events')).statusCode).toBe(200);
      expect(await audit('staff.password-changed')).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ actor: `staff:${staff.login}`, details: { otherSessionsEnded: 1 } }),
        ]),
      );
      const wrongCurrent = await staff.request('POST', '/api/v1/auth/password', {
        current: 'not the password at all',
        next: PASSWORD,
      });
      expect(wrongCurrent.statusCode).toBe(401);
    });

    it('a disabled account loses its sessions at once; a role change is audited', async () => {
      const admin = await StaffClient.create(system.dashboard, system.clock, 'admin');
      const target = await system.staff('security');
      const actor = await system.dashboard.staff.byLogin(admin.login);
      await system.dashboard.auth.administer(actor as NonNullable<typeof actor>, target.login, {
        disabled: true,
      });
      expect((await target.request('GET', '/api/v1/events')).statusCode).toBe(401);
      const relogin = await post('/api/v1/auth/login', { login: target.login, password: target.password });
      expect(relogin.statusCode).toBe(401);
      await system.dashboard.auth.administer(actor as NonNullable<typeof actor>, target.login, {
        disabled: false,
        role: 'auditor',
      });
      expect(await audit('staff.role-changed')).toEqual([
        expect.objectContaining({
          actor: `staff:${admin.login}`,
          target: `staff:${target.login}`,
          details: { from: 'security', to: 'auditor' },
        }),
      ]);
      await expect(
        system.dashboard.auth.administer(actor as NonNullable<typeof actor>, admin.login, {
          role: 'security',
        }),
      ).rejects.toThrow(/another administrator/);
    });

    it('never demotes or disables the last enabled administrator, not even by a disabled one', async () => {
      const admins = await db.query<{ login: string }>(
        "SELECT login FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL ORDER BY login",
      );
      expect(admins.rows.length).toBe(2);
      const [first, second] = admins.rows.map((r) => r.login) as [string, string];
      const a = (await system.dashboard.staff.byLogin(first)) as NonNullable<
        Awaited<ReturnType<typeof system.dashboard.staff.byLogin>>
      >;
      const b = (await system.dashboard.staff.byLogin(second)) as NonNullable<typeof a>;
      await system.dashboard.auth.administer(a, second, { disabled: true });
      // The only other administrator is disabled: their account may change nothing any more.
      await expect(system.dashboard.auth.administer(b, first, { role: 'auditor' })).rejects.toThrow(
        /your role may not do this/,
      );
      expect((await system.dashboard.staff.byLogin(first))?.role).toBe('admin');
      await system.dashboard.auth.administer(a, second, { disabled: false });
    });
  });

  describe('re-authentication', () => {
    it('is required before enrolling a new authenticator, and then counts for a few minutes', async () => {
      const staff = await system.staff('security');
      const refused = await staff.request('POST', '/api/v1/auth/enrolment');
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe('IDG_AUTH_REAUTH');
      const wrong = await staff.request('POST', '/api/v1/auth/reauth', {
        password: staff.password,
        code: '000000',
      });
      expect(wrong.statusCode).toBe(401);
      await staff.reauth();
      expect((await staff.request('GET', '/api/v1/session')).json().reauthFresh).toBe(true);
      const started = await staff.request('POST', '/api/v1/auth/enrolment');
      expect(started.statusCode).toBe(200);
      const secret = started.json().secret as string;
      const confirmed = await staff.request('POST', '/api/v1/auth/enrolment/confirm', {
        code: totp.generate(secret, system.clock.now()),
      });
      expect(confirmed.statusCode).toBe(200);
      staff.secret = secret;
      await db.query(
        "UPDATE staff_sessions SET reauth_at = now() - interval '6 minutes' WHERE staff_id = (SELECT id FROM staff_accounts WHERE login = $1)",
        [staff.login],
      );
      expect((await staff.request('POST', '/api/v1/auth/enrolment')).json().code).toBe('IDG_AUTH_REAUTH');
    });
  });

  describe('the HTTP surface', () => {
    it('refuses every API route without a session; only the sign-in routes, the enrolment link, health and the UI are public', async () => {
      const open = new Set([
        '/',
        '/healthz',
        '/api/v1/session',
        '/api/v1/setup',
        '/api/v1/auth/login',
        '/api/v1/invitation',
      ]);
      const api = app.routeTable.filter((r) => r.url.startsWith('/api/'));
      expect(api.length).toBeGreaterThan(8);
      for (const route of api) {
        const url = route.url.replace(/:[A-Za-z]+/g, 'x1');
        const response = await app.inject({
          method: route.method as InjectOptions['method'],
          url,
          payload: route.method === 'GET' ? undefined : {},
        });
        if (open.has(route.url)) {
          expect(route.roles).toBe('public');
          continue;
        }
        expect({ route: `${route.method} ${route.url}`, status: response.statusCode }).toEqual({
          route: `${route.method} ${route.url}`,
          status: 401,
        });
      }
    });

    it('sends the security headers on pages and API answers', async () => {
      for (const url of ['/', '/api/v1/session', '/api/v1/nothing']) {
        const response = await app.inject({ method: 'GET', url });
        const csp = String(response.headers['content-security-policy']);
        expect(csp).toContain("script-src 'self'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).not.toContain('unsafe-inline');
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['referrer-policy']).toBe('no-referrer');
        // Plain HTTP (loopback): HSTS is sent over TLS only; see tls-listeners.test.ts.
        expect(response.headers['strict-transport-security']).toBeUndefined();
      }
    });
  });
});
