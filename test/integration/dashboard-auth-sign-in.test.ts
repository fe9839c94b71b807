import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { SessionStore } from '../../src/dashboard/auth/session-store.js';
import { rotateMasterKey } from '../../src/dashboard/storage/master-key-rotation.js';
import { KeyRing } from '../../src/lib/key-ring.js';
import type { StaffClient } from '../helpers/staff.js';
import { cookieOf, from, staffAuthRequests } from '../helpers/staff-auth-requests.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const totp = new TotpVerifier();
const PASSWORD = 'lantern orchard quietly 42';

/**
 * Staff sign-in against the real dashboard and PostgreSQL, through `inject()`: the first
 * administrator from the one-time setup token (no default account), a sign-in that answers an
 * unknown login as a wrong password and keeps nothing typed, the session cookie, each TOTP code
 * accepted once, authenticator enrolment that no half-signed-in session can take over, and
 * second factors that a master-key rotation re-seals.
 */
describe('dashboard staff authentication: sign-in and the second factor', () => {
  let system: TestSystem;
  let app: FastifyInstance;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    app = system.dashboard.http;
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const { post, audit, sessionOf, signInFrom } = staffAuthRequests(() => ({ app, db }));

  // First: it starts from a system with no staff account at all.
  describe('the first administrator', () => {
    it('is created once with the setup token printed at start; no default account exists', async () => {
      const accounts = await db.query('SELECT count(*)::int AS n FROM staff_accounts');
      expect(accounts.rows[0].n).toBe(0);
      const token = system.dashboard.setupToken as string;
      expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);

      const wrong = await post('/api/v1/setup', {
        token: 'x'.repeat(22),
        login: 'eve',
        displayName: 'Eve',
        password: PASSWORD,
      });
      expect(wrong.statusCode).toBe(403);
      expect(wrong.json().code).toBe('IDG_AUTH_SETUP');

      const weak = await post('/api/v1/setup', {
        token,
        login: 'root-admin',
        displayName: 'Rita Root',
        password: 'short',
      });
      expect(weak.statusCode).toBe(400);
      expect(weak.json().message).toMatch(/shorter than 12 characters/);

      const created = await post('/api/v1/setup', {
        token,
        login: 'Root-Admin',
        displayName: 'Rita Root',
        password: PASSWORD,
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toEqual({ login: 'root-admin' });

      const again = await post('/api/v1/setup', {
        token,
        login: 'second',
        displayName: 'Second',
        password: PASSWORD,
      });
      expect(again.statusCode).toBe(403);
      expect(await system.dashboard.auth.setupToken()).toBeUndefined();
      // A refused token is about no account: no address is kept for it.
      expect(await audit('staff.setup-refused')).toEqual([
        { actor: 'anonymous', target: null, details: {} },
        { actor: 'anonymous', target: null, details: {} },
      ]);
      expect(await audit('staff.created')).toEqual([
        expect.objectContaining({ actor: 'setup', target: 'staff:root-admin', details: { role: 'admin' } }),
      ]);
    });

    it('signs in with the password, must enrol an authenticator, and only then reaches the API', async () => {
      const login = await post('/api/v1/auth/login', { login: 'root-admin', password: PASSWORD });
      expect(login.statusCode).toBe(200);
      expect(login.json()).toEqual({ stage: 'enrol' });
      const cookie = cookieOf(login);
      const blocked = await app.inject({ method: 'GET', url: '/api/v1/live', headers: { cookie } });
      expect(blocked.statusCode).toBe(403);
      expect(blocked.json().code).toBe('IDG_AUTH_STAGE');

      const session = (
        await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } })
      ).json();
      expect(session).toMatchObject({
        authenticated: true,
        login: 'root-admin',
        role: 'admin',
        stage: 'enrol',
      });
      const headers = { cookie, 'x-csrf-token': session.csrfToken };
      const enrolment = await app.inject({ method: 'POST', url: '/api/v1/auth/enrolment', headers });
      expect(enrolment.statusCode).toBe(200);
      const { secret, otpauthUri, qrSvg } = enrolment.json();
      expect(secret).toMatch(/^[A-Z2-7]{32}$/);
      expect(otpauthUri).toContain(`secret=${secret}`);
      expect(qrSvg).toMatch(/^<svg/);
      const badCode = totp.generate(secret, Date.now() - 10 * 60_000);
      expect((await post('/api/v1/auth/enrolment/confirm', { code: badCode }, { headers })).statusCode).toBe(
        401,
      );
      const confirmed = await post(
        '/api/v1/auth/enrolment/confirm',
        { code: totp.generate(secret, system.clock.now()) },
        { headers },
      );
      expect(confirmed.json()).toEqual({ stage: 'active' });
      const sealed = await db.query<{ totp_secret_sealed: string }>(
        "SELECT totp_secret_sealed FROM staff_accounts WHERE login = 'root-admin'",
      );
      expect(sealed.rows[0]?.totp_secret_sealed).toMatch(/^v2\./);
      expect(sealed.rows[0]?.totp_secret_sealed).not.toContain(secret);
      expect(await audit('staff.totp-enrolled')).toHaveLength(1);
    });
  });

  describe('sign-in', () => {
    let staff: StaffClient;

    beforeAll(async () => {
      staff = await system.staff('security');
    });

    it('answers an unknown login exactly as a wrong password', async () => {
      const unknown = await post(
        '/api/v1/auth/login',
        { login: 'nobody-here', password: PASSWORD },
        { remoteAddress: '10.9.9.1' },
      );
      const wrong = await post(
        '/api/v1/auth/login',
        { login: staff.login, password: `${PASSWORD}x` },
        { remoteAddress: '10.9.9.1' },
      );
      expect(unknown.statusCode).toBe(401);
      expect(wrong.statusCode).toBe(401);
      expect(unknown.body).toBe(wrong.body);
      expect(unknown.cookies).toEqual([]);
      const failures = await audit('staff.login-failed');
      expect(failures).toEqual(
        expect.arrayContaining([
          { actor: 'anonymous', target: null, details: { reason: 'unknown login' } },
          {
            actor: 'anonymous',
            target: `staff:${staff.login}`,
            details: { address: '10.9.9.1', reason: 'wrong password' },
          },
        ]),
      );
    });

    it('keeps neither what was typed as an unknown login nor the client’s address in the audit log', async () => {
      // A password typed one field too early.
      const typed = 'Correct-Horse-Battery-Staple-77';
      const response = await post(
        '/api/v1/auth/login',
        { login: typed, password: 'irrelevant password here' },
        { remoteAddress: '10.77.0.9' },
      );
      expect(response.statusCode).toBe(401);
      const kept = await db.query(
        `SELECT action FROM audit_log
          WHERE position(lower($1) IN lower(coalesce(target, '') || details::text)) > 0
             OR details::text LIKE '%10.77.0.9%'`,
        [typed],
      );
      expect(kept.rows).toEqual([]);
    });

    it('sets a __Host- session cookie: Secure, HttpOnly, SameSite=Strict, path /, no domain', async () => {
      const login = await post('/api/v1/auth/login', { login: staff.login, password: staff.password });
      const cookie = login.cookies.find((c) => c.name === '__Host-identgate-session');
      expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(cookie?.domain).toBeUndefined();
      expect(Buffer.from(cookie?.value ?? '', 'base64url').length).toBeGreaterThanOrEqual(16);
      const stored = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM staff_sessions WHERE token_hash = $1',
        [Buffer.from(cookie?.value ?? '')],
      );
      expect(stored.rows[0]?.n).toBe(0);
    });

    it('accepts each code once: a replayed code does not open a second session', async () => {
      const code = staff.code();
      const first = await post('/api/v1/auth/login', { login: staff.login, password: staff.password });
      const second = await post('/api/v1/auth/login', { login: staff.login, password: staff.password });
      const csrf = async (cookie: string) =>
        (await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } })).json().csrfToken;
      const c1 = cookieOf(first);
      const c2 = cookieOf(second);
      expect(
        (
          await post(
            '/api/v1/auth/code',
            { code },
            { headers: { cookie: c1, 'x-csrf-token': await csrf(c1) } },
          )
        ).statusCode,
      ).toBe(200);
      const replay = await post(
        '/api/v1/auth/code',
        { code },
        { headers: { cookie: c2, 'x-csrf-token': await csrf(c2) } },
      );
      expect(replay.statusCode).toBe(401);
      expect(replay.json().code).toBe('IDG_AUTH_CODE');
    });

    it('refuses malformed sign-in requests with 400 or 415, never 500', async () => {
      const cases: Array<[unknown, Partial<InjectOptions>]> = [
        [{ login: 'x'.repeat(65), password: PASSWORD }, {}],
        [{ login: 'a', password: PASSWORD, admin: true }, {}],
        [{ login: ['a'], password: PASSWORD }, {}],
        ['login=a&password=b', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
        ['{"login": "a", "password": ', { headers: { 'content-type': 'application/json' } }],
      ];
      for (const [payload, options] of cases) {
        const response = await post('/api/v1/auth/login', payload, options);
        expect(response.statusCode).toBeGreaterThanOrEqual(400);
        expect(response.statusCode).toBeLessThan(500);
      }
    });
  });

  describe('authenticator enrolment', () => {
    const sealedSecret = async (login: string) =>
      (
        await db.query<{ totp_secret_sealed: string | null }>(
          'SELECT totp_secret_sealed FROM staff_accounts WHERE login = $1',
          [login],
        )
      ).rows[0]?.totp_secret_sealed;

    it('ends the other password-only sessions once the first authenticator is enrolled', async () => {
      const login = 'enna-first';
      await system.dashboard.auth.createAccount(
        { login, displayName: 'Enna First', password: PASSWORD, role: 'security' },
        { tool: 'test' },
      );
      const address = '10.93.1.1';
      // Two password sign-ins before the account has an authenticator: both must enrol.
      const early = await signInFrom(login, PASSWORD, address);
      const owner = await signInFrom(login, PASSWORD, address);
      expect([early.stage, owner.stage]).toEqual(['enrol', 'enrol']);
      const started = await post('/api/v1/auth/enrolment', undefined, from(owner, address));
      const secret = started.json().secret as string;
      const confirmed = await post(
        '/api/v1/auth/enrolment/confirm',
        { code: totp.generate(secret, system.clock.now()) },
        from(owner, address),
      );
      expect(confirmed.json()).toEqual({ stage: 'active' });
      const ownersSecret = await sealedSecret(login);

      const hijack = await post('/api/v1/auth/enrolment', undefined, from(early, address));
      expect(hijack.statusCode).toBe(401);
      expect(await sessionOf(early)).toEqual({ authenticated: false });
      expect(await sealedSecret(login)).toBe(ownersSecret);
      expect((await audit('staff.totp-enrolled')).filter((e) => e.actor === `staff:${login}`)).toEqual([
        { actor: `staff:${login}`, target: null, details: { address, otherSessionsEnded: 1 } },
      ]);
    });

    it('never lets a session at the enrolment stage replace an authenticator, even with a valid code', async () => {
      const owner = await system.staff('security');
      const account = await system.dashboard.staff.byLogin(owner.login);
      // A password-only session that still waits for an enrolment, as a sign-in racing the
      // owner's enrolment leaves it: it read the account before the authenticator was confirmed.
      const pool = new pg.Pool({ connectionString: system.databaseUrl, max: 1 });
      const made = await new SessionStore(pool)
        .create(account?.id as string, 'enrol', 3_600_000, { address: '10.93.1.2' })
        .finally(() => pool.end());
      const stale = { cookie: `__Host-identgate-session=${made.token}`, csrf: made.session.csrfToken };
      const address = '10.93.1.2';
      const ownersSecret = await sealedSecret(owner.login);

      const start = await post('/api/v1/auth/enrolment', undefined, from(stale, address));
      expect(start.statusCode).toBe(403);
      expect(start.json().code).toBe('IDG_AUTH_STAGE');

      // The owner moves to a new authenticator; the stale session knows a code of it.
      await owner.reauth();
      const replacing = await owner.request('POST', '/api/v1/auth/enrolment');
      const next = replacing.json().secret as string;
      const stolen = await post(
        '/api/v1/auth/enrolment/confirm',
        { code: totp.generate(next, system.clock.now()) },
        from(stale, address),
      );
      expect(stolen.statusCode).toBe(403);
      expect(stolen.json().code).toBe('IDG_AUTH_STAGE');
      expect((await sessionOf(stale)).stage).toBe('enrol');
      expect(await sealedSecret(owner.login)).toBe(ownersSecret);
      expect(
        (await audit('staff.totp-enrolment-refused')).filter((e) => e.actor === `staff:${owner.login}`),
      ).toHaveLength(2);

      // A full session that has not re-authenticated may not confirm the replacement either.
      const other = await signInFrom(owner.login, owner.password, '10.93.1.3');
      const coded = await post('/api/v1/auth/code', { code: owner.code() }, from(other, '10.93.1.3'));
      expect(coded.statusCode).toBe(200);
      system.clock.advance(30_000); // the stale session used up this time step of the new secret
      const unfresh = await post(
        '/api/v1/auth/enrolment/confirm',
        { code: totp.generate(next, system.clock.now()) },
        from(other, '10.93.1.3'),
      );
      expect(unfresh.json().code).toBe('IDG_AUTH_REAUTH');

      // The owner, re-authenticated, confirms it: every other session ends.
      const confirmed = await owner.request('POST', '/api/v1/auth/enrolment/confirm', {
        code: totp.generate(next, system.clock.now()),
      });
      expect(confirmed.json()).toEqual({ stage: 'active' });
      owner.secret = next;
      expect(await sealedSecret(owner.login)).not.toBe(ownersSecret);
      expect(await sessionOf(stale)).toEqual({ authenticated: false });
      expect(await sessionOf(other)).toEqual({ authenticated: false });
      expect((await owner.request('GET', '/api/v1/events')).statusCode).toBe(200);
    });
  });

  // Last: it replaces the master key, and the second factors enrolled above are among the three
  // or more it must re-seal.
  describe('the master key', () => {
    it('re-seals staff second factors on rotation, and sign-in keeps working with the new key', async () => {
      const staff = await system.staff('auditor');
      const next = randomBytes(32);
      const ring = new KeyRing(next, [system.masterKey]);
      const pool = new pg.Pool({ connectionString: system.databaseUrl, max: 2 });
      const report = await rotateMasterKey(pool, ring).finally(() => pool.end());
      expect(report.unreadable).toEqual([]);
      expect(report.resealed).toBeGreaterThanOrEqual(3);
      system.dashboard.reloadMasterKeys(next, []);
      await staff.signIn();
      expect((await staff.request('GET', '/api/v1/events')).statusCode).toBe(200);
    });
  });
});
