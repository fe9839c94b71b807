import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { StaffClient } from '../helpers/staff.js';
import { from, staffAuthRequests } from '../helpers/staff-auth-requests.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const totp = new TotpVerifier();
const PASSWORD = 'lantern orchard quietly 42';

/**
 * Staff passwords on the real dashboard and PostgreSQL: the rules a new one must meet and the
 * argon2id hash that is all that is kept, and the throttle on guessing, per account and address
 * and per address, at sign-in, at the code, at re-authentication and at a password change. At
 * most five guesses are checked however many arrive at once, and the owner is not locked out
 * from elsewhere.
 */
describe('dashboard staff authentication: passwords and guessing', () => {
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

  /** How many answers had each status code. */
  const tally = (responses: LightMyRequestResponse[]) => {
    const counts: Record<number, number> = {};
    for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    return counts;
  };
  /** Twenty requests at once: the throttle must count them as if they came one by one. */
  const twentyAtOnce = (send: (i: number) => Promise<LightMyRequestResponse>) =>
    Promise.all(Array.from({ length: 20 }, (_, i) => send(i)));

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

  describe('guessing at sign-in', () => {
    let staff: StaffClient;

    beforeAll(async () => {
      staff = await system.staff('security');
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
  });

  describe('guessing at re-authentication', () => {
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

  describe('guessing at a password change', () => {
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
  });
});
