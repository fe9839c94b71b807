import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { SessionStore } from '../../src/dashboard/auth/session-store.js';
import { rotateMasterKey } from '../../src/dashboard/storage/master-key-rotation.js';
import { KeyRing } from '../../src/lib/key-ring.js';
import { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const totp = new TotpVerifier();
const PASSWORD = 'lantern orchard quietly 42';

/**
 * Staff sign-in against the real dashboard and PostgreSQL, through `inject()`: the first-admin
 * setup token, password rules, the second factor, sessions and their ends, CSRF and origin
 * checks, throttling that cannot lock the owner out, re-authentication, the audit trail.
 */
describe('dashboard staff authentication', () => {
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

  const post = (url: string, payload: unknown, options: Partial<InjectOptions> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as InjectOptions['payload'], ...options });
  const cookieOf = (response: LightMyRequestResponse) => {
    const set = response.cookies.find((c) => c.name === '__Host-identgate-session');
    return set ? `${set.name}=${set.value}` : '';
  };
  const audit = async (action: string) =>
    (
      await db.query<{ actor: string; target: string | null; details: Record<string, unknown> }>(
        'SELECT actor, target, details FROM audit_log WHERE action = $1 ORDER BY id',
        [action],
      )
    ).rows;
  /** A password sign-in from `address`: the new session's cookie, CSRF token and stage. */
  const signInFrom = async (login: string, password: string, address: string) => {
    const response = await post('/api/v1/auth/login', { login, password }, { remoteAddress: address });
    expect(response.statusCode, response.body).toBe(200);
    const cookie = cookieOf(response);
    const session = await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } });
    return { cookie, csrf: session.json().csrfToken as string, stage: response.json().stage as string };
  };
  /** A request in `session`'s name from `address`, as the browser sends it. */
  const from = (session: { cookie: string; csrf: string }, address: string): Partial<InjectOptions> => ({
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
    remoteAddress: address,
  });
  const sessionOf = async (session: { cookie: string }) =>
    (await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie: session.cookie } })).json();
  /** How many answers had each status code. */
  const tally = (responses: LightMyRequestResponse[]) => {
    const counts: Record<number, number> = {};
    for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    return counts;
  };
  /** Twenty requests at once: the throttle must count them as if they came one by one. */
  const twentyAtOnce = (send: (i: number) => Promise<LightMyRequestResponse>) =>
    Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));

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

  describe('passwords', () => {
    it.each([
      ['eleven char', /shorter than 12/],
      ['password1234', /common or previously breached/],
      ['my name is pat-the-tester', /contains your login or name/],
      ['x'.repeat(129), /longer than 128/],
      ['zzzzzzzzzzzzzzzz', /one character repeated/],
    ])('refuses %j', async (password, problem) => {
      await expect(
        system.dashboard.auth.createAccount(
          { login: 'pat-the-tester', displayName: 'Pat Tester', password, role: 'security' },
          { tool: 'test' },
        ),
      ).rejects.toThrow(problem);
    });

    it('accepts a 64-character passphrase and stores only an argon2id hash', async () => {
      const passphrase = 'a long passphrase of many ordinary words is easy to remember ok!';
      expect(passphrase).toHaveLength(64);
      await system.dashboard.auth.createAccount(
        { login: 'long-phrase', displayName: 'Lee Kim', password: passphrase, role: 'auditor' },
        { tool: 'test' },
      );
      const row = await db.query<{ password_hash: string }>(
        "SELECT password_hash FROM staff_accounts WHERE login = 'long-phrase'",
      );
      expect(row.rows[0]?.password_hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=1\$/);
      expect(row.rows[0]?.password_hash).not.toContain('passphrase');
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

    it('throttles guessing per account and address, without locking the owner out elsewhere', async () => {
      const victim = await system.staff('security');
      for (let i = 0; i < 5; i += 1) {
        const attempt = await post(
          '/api/v1/auth/login',
          { login: victim.login, password: `guess ${i} ${PASSWORD}` },
          { remoteAddress: '203.0.113.7' },
        );
        expect(attempt.statusCode).toBe(401);
      }
      const blocked = await post(
        '/api/v1/auth/login',
        { login: victim.login, password: victim.password },
        { remoteAddress: '203.0.113.7' },
      );
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json().code).toBe('IDG_AUTH_THROTTLED');
      const owner = await post(
        '/api/v1/auth/login',
        { login: victim.login, password: victim.password },
        { remoteAddress: '198.51.100.20' },
      );
      expect(owner.statusCode).toBe(200);
      expect(await audit('staff.login-throttled')).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            target: `staff:${victim.login}`,
            details: { address: '203.0.113.7', scope: 'account-address' },
          }),
        ]),
      );
    });

    it('checks at most 5 of 20 simultaneous password guesses for an account from one address', async () => {
      const victim = await system.staff('security');
      const guesses = await twentyAtOnce((i) =>
        post(
          '/api/v1/auth/login',
          { login: victim.login, password: `simultaneous guess ${i}` },
          { remoteAddress: '203.0.113.21' },
        ),
      );
      expect(tally(guesses)).toEqual({ 401: 5, 429: 15 });
      const checked = (await audit('staff.login-failed')).filter((e) => e.target === `staff:${victim.login}`);
      expect(checked).toHaveLength(5);
      const owner = await post(
        '/api/v1/auth/login',
        { login: victim.login, password: victim.password },
        { remoteAddress: '198.51.100.21' },
      );
      expect(owner.statusCode).toBe(200);
    });

    it('checks at most 5 of 20 simultaneous code guesses after the password', async () => {
      const victim = await system.staff('security');
      const address = '203.0.113.22';
      const session = await signInFrom(victim.login, victim.password, address);
      const now = system.clock.now();
      const valid = new Set([-2, -1, 0, 1, 2].map((d) => totp.generate(victim.secret, now + d * 30_000)));
      const wrong = Array.from({ length: 30 }, (_, i) => String(123456 + i))
        .filter((code) => !valid.has(code))
        .slice(0, 20);
      const guesses = await twentyAtOnce((i) =>
        post('/api/v1/auth/code', { code: wrong[i] }, from(session, address)),
      );
      expect(tally(guesses)).toEqual({ 401: 5, 429: 15 });
      expect((await sessionOf(session)).stage).toBe('totp');
    });

    it('blocks an address that sprays many accounts', async () => {
      for (let i = 0; i < 30; i += 1) {
        await post(
          '/api/v1/auth/login',
          { login: `spray-${i}`, password: PASSWORD },
          { remoteAddress: '192.0.2.66' },
        );
      }
      const blocked = await post(
        '/api/v1/auth/login',
        { login: staff.login, password: staff.password },
        { remoteAddress: '192.0.2.66' },
      );
      expect(blocked.statusCode).toBe(429);
      const unknown = await post(
        '/api/v1/auth/login',
        { login: 'spray-typed-31', password: PASSWORD },
        { remoteAddress: '192.0.2.66' },
      );
      expect(unknown.statusCode).toBe(429);
      // The account's attempt is written with its address; the attempt on no account without
      // what was typed or the address.
      const throttled = (await audit('staff.login-throttled')).filter((e) => e.details.scope === 'address');
      expect(throttled).toEqual([
        {
          actor: 'anonymous',
          target: `staff:${staff.login}`,
          details: { address: '192.0.2.66', scope: 'address' },
        },
        { actor: 'anonymous', target: null, details: { scope: 'address' } },
      ]);
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

    it('counts wrong current passwords on a password change as sign-in failures, audited without the text', async () => {
      const staff = await system.staff('auditor');
      const address = '203.0.113.24';
      const session = await signInFrom(staff.login, staff.password, address);
      expect(
        (await post('/api/v1/auth/code', { code: staff.code() }, from(session, address))).statusCode,
      ).toBe(200);
      const next = 'a brand new passphrase 93';
      const guesses = await twentyAtOnce((i) =>
        post('/api/v1/auth/password', { current: `not the password ${i}`, next }, from(session, address)),
      );
      expect(tally(guesses)).toEqual({ 401: 5, 429: 15 });
      // Throttled now even with the right password, as a sign-in from there would be.
      const right = await post(
        '/api/v1/auth/password',
        { current: staff.password, next },
        from(session, address),
      );
      expect(right.statusCode).toBe(429);
      expect(right.json().code).toBe('IDG_AUTH_THROTTLED');
      const failed = (await audit('staff.password-change-failed')).filter(
        (e) => e.actor === `staff:${staff.login}`,
      );
      expect(failed).toEqual(
        Array.from({ length: 5 }, () => ({
          actor: `staff:${staff.login}`,
          target: null,
          details: { address, reason: 'wrong password' },
        })),
      );
      const login = await post(
        '/api/v1/auth/login',
        { login: staff.login, password: staff.password },
        { remoteAddress: address },
      );
      expect(login.statusCode).toBe(429);
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

    it('checks at most 5 of 20 simultaneous re-authentications with a wrong password', async () => {
      const staff = await system.staff('security');
      const address = '203.0.113.23';
      const session = await signInFrom(staff.login, staff.password, address);
      expect(
        (await post('/api/v1/auth/code', { code: staff.code() }, from(session, address))).statusCode,
      ).toBe(200);
      const tries = await twentyAtOnce((i) =>
        post('/api/v1/auth/reauth', { password: `not it ${i}`, code: '000000' }, from(session, address)),
      );
      expect(tally(tries)).toEqual({ 401: 5, 429: 15 });
      expect(
        (await audit('staff.reauth-failed')).filter((e) => e.actor === `staff:${staff.login}`),
      ).toHaveLength(5);
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
