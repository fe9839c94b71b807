import { readFileSync } from 'node:fs';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { refuseAuditOf } from '../helpers/refuse-inserts.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const JPEG = readFileSync('test/fixtures/photo.jpg');

/**
 * Every administrator's change and every step that widens a session is written together with its
 * audit entry, in one transaction: when the entry cannot be written (a full disk, a broken
 * constraint — here a trigger that refuses it), the answer is 503 IDG_AUDIT_UNAVAILABLE and
 * nothing changed. Against the real dashboard and PostgreSQL.
 */
describe('dashboard: no change without its audit entry', () => {
  let system: TestSystem;
  let admin: StaffClient;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const failAuditOf = (like: string) => refuseAuditOf(db, like);

  /** Runs `act` while `action`'s entries are refused; answers its response. */
  const whileRefused = async (action: string, act: () => Promise<LightMyRequestResponse>) => {
    const restore = await failAuditOf(action);
    try {
      return await act();
    } finally {
      await restore();
    }
  };

  const expectRefused = (response: LightMyRequestResponse) =>
    expect({ status: response.statusCode, code: response.json().code }).toEqual({
      status: 503,
      code: 'IDG_AUDIT_UNAVAILABLE',
    });

  const rows = async (sql: string, values: unknown[] = []) => (await db.query(sql, values)).rows;

  const created = async (id: string) => {
    const response = await admin.request('POST', '/api/v1/people', { id, displayName: `Person ${id}` });
    expect(response.statusCode).toBe(201);
  };

  describe("people and their credentials (administrators')", () => {
    const person = 'audited-person';
    const granted = 'audited-granted';

    beforeAll(async () => {
      await created(person);
      await created(granted);
      expect(
        (await admin.request('POST', `/api/v1/people/${granted}/badges`, { badge: 'AUD-KEPT' })).statusCode,
      ).toBe(200);
      expect((await admin.request('PUT', `/api/v1/people/${granted}/sites/${system.site}`)).statusCode).toBe(
        200,
      );
      expect(
        (
          await admin.request('PUT', `/api/v1/people/${granted}/photo`, JPEG, {
            'content-type': 'image/jpeg',
          })
        ).statusCode,
      ).toBe(200);
    });

    const cases: Array<{
      behaviour: string;
      action: string;
      act: () => Promise<LightMyRequestResponse>;
      state: () => Promise<unknown>;
    }> = [
      {
        behaviour: 'creates no person',
        action: 'person.created',
        act: () => admin.request('POST', '/api/v1/people', { id: 'audited-never', displayName: 'Never' }),
        state: () => rows('SELECT id FROM people WHERE id = $1', ['audited-never']),
      },
      {
        behaviour: 'changes no name or compliance date',
        action: 'person.updated',
        act: () =>
          admin.request('PATCH', `/api/v1/people/${person}`, {
            displayName: 'Renamed',
            trainingOn: '2026-01-02',
          }),
        state: () => rows('SELECT display_name, training_on, updated_at FROM people WHERE id = $1', [person]),
      },
      {
        behaviour: 'gives no badge',
        action: 'person.badge-added',
        act: () => admin.request('POST', `/api/v1/people/${person}/badges`, { badge: 'AUD-NEW' }),
        state: () => rows('SELECT badge FROM badges WHERE person_id = $1', [person]),
      },
      {
        behaviour: 'revokes no badge',
        action: 'person.badge-revoked',
        act: () => admin.request('POST', `/api/v1/people/${granted}/badges/AUD-KEPT/revoke`),
        state: () => rows('SELECT status, revoked_at FROM badges WHERE badge = $1', ['AUD-KEPT']),
      },
      {
        behaviour: 'grants no site',
        action: 'person.site-granted',
        act: () => admin.request('PUT', `/api/v1/people/${person}/sites/${system.site}`),
        state: () => rows('SELECT site FROM access_grants WHERE person_id = $1', [person]),
      },
      {
        behaviour: 'withdraws no site',
        action: 'person.site-withdrawn',
        act: () => admin.request('DELETE', `/api/v1/people/${granted}/sites/${system.site}`),
        state: () => rows('SELECT site FROM access_grants WHERE person_id = $1', [granted]),
      },
      {
        behaviour: 'stores no authenticator secret (and shows none)',
        action: 'person.totp-enrolled',
        act: () => admin.request('POST', `/api/v1/people/${person}/totp`),
        state: () => rows('SELECT totp_secret_sealed FROM people WHERE id = $1', [person]),
      },
      {
        behaviour: 'sets no photo',
        action: 'person.photo-set',
        act: () =>
          admin.request('PUT', `/api/v1/people/${person}/photo`, JPEG, { 'content-type': 'image/jpeg' }),
        state: () => rows('SELECT person_id FROM person_photos WHERE person_id = $1', [person]),
      },
      {
        behaviour: 'removes no photo',
        action: 'person.photo-removed',
        act: () => admin.request('DELETE', `/api/v1/people/${granted}/photo`),
        state: () => rows('SELECT person_id, updated_at FROM person_photos WHERE person_id = $1', [granted]),
      },
      {
        behaviour: 'writes no directory entry',
        action: 'directory.%',
        act: () => admin.request('PUT', '/api/v1/directory/customers/audited-customer', { name: 'Never' }),
        state: () => rows('SELECT id FROM customers WHERE id = $1', ['audited-customer']),
      },
    ];

    for (const { behaviour, action, act, state } of cases) {
      it(`${behaviour} when its entry (${action}) cannot be written`, async () => {
        await admin.confirm();
        const before = await state();
        const response = await whileRefused(action, act);
        expectRefused(response);
        expect(response.body).not.toContain('otpauth');
        expect(await state()).toEqual(before);
      });
    }

    it('makes the same change, audited, once the entry can be written again', async () => {
      const response = await admin.request('PATCH', `/api/v1/people/${person}`, { displayName: 'Renamed' });
      expect(response.statusCode).toBe(200);
      expect(await rows('SELECT display_name FROM people WHERE id = $1', [person])).toEqual([
        { display_name: 'Renamed' },
      ]);
      const entries = await rows(
        `SELECT actor, details FROM audit_log WHERE action = 'person.updated' AND target = $1`,
        [`person:${person}`],
      );
      expect(entries).toEqual([{ actor: `staff:${admin.login}`, details: { fields: ['displayName'] } }]);
    });
  });

  it('neither acknowledges nor resolves an alarm unaudited (alarm.acknowledge)', async () => {
    const security = await system.staff('security');
    const [alarm] = await system.dashboard.alarms.raiseCentral({
      alarm: 'workstation-break-glass',
      key: 'audited-changes-test',
      severity: 'critical',
      site: system.site,
      detail: 'raised by the test',
    });
    const response = await whileRefused('alarm.acknowledge', () =>
      security.request('POST', `/api/v1/alarms/${alarm?.id}/acknowledge`, { comment: 'on my way' }),
    );
    expectRefused(response);
    expect(await rows('SELECT acknowledged_at FROM alarms WHERE id = $1', [alarm?.id])).toEqual([
      { acknowledged_at: null },
    ]);
  });

  it('shows no events when the search cannot be audited (events.search)', async () => {
    const security = await system.staff('security');
    const response = await whileRefused('events.search', () =>
      security.request('GET', `/api/v1/events?person=${system.agent.person}`),
    );
    expectRefused(response);
    expect(response.body).not.toContain('"events"');
  });

  describe('staff accounts and sessions', () => {
    it('creates no account when its entry (staff.created) cannot be written', async () => {
      await admin.confirm();
      const response = await whileRefused('staff.created', () =>
        admin.request('POST', '/api/v1/staff', {
          login: 'never-made',
          displayName: 'Never',
          role: 'security',
        }),
      );
      expectRefused(response);
      expect(await rows('SELECT login FROM staff_accounts WHERE login = $1', ['never-made'])).toEqual([]);
    });

    it('neither disables an account nor ends its sessions when the entry cannot be written', async () => {
      const security = await system.staff('security');
      await admin.confirm();
      const response = await whileRefused('staff.disabled', () =>
        admin.request('PATCH', `/api/v1/staff/${security.login}`, { disabled: true }),
      );
      expectRefused(response);
      expect(await rows('SELECT disabled_at FROM staff_accounts WHERE login = $1', [security.login])).toEqual(
        [{ disabled_at: null }],
      );
      expect((await security.request('GET', '/api/v1/alarms')).statusCode).toBe(200);
    });

    it('lets no session past the second factor unaudited (staff.login)', async () => {
      const security = await system.staff('security');
      const restore = await failAuditOf('staff.login');
      // The password step opens a new session for the cookie; its code step is refused.
      const signedIn = security.signIn().then(
        () => 'signed in',
        (error: Error) => error.message,
      );
      const outcome = await signedIn.finally(restore);
      expect(outcome).toMatch(/^code refused: .*IDG_AUDIT_UNAVAILABLE/);
      const alarms = await security.request('GET', '/api/v1/alarms');
      expect({ status: alarms.statusCode, code: alarms.json().code }).toEqual({
        status: 403,
        code: 'IDG_AUTH_STAGE',
      });
      expect((await security.request('GET', '/api/v1/session')).json()).toMatchObject({ stage: 'totp' });
    });

    it('signs in no session that was ended while its code was being checked', async () => {
      const security = await system.staff('security');
      const login = await security.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: security.login, password: security.password },
      });
      security.cookie = `__Host-identgate-session=${login.cookies.find((c) => c.name === '__Host-identgate-session')?.value}`;
      await security.refreshCsrf();
      // Holds the account while the code is checked; meanwhile the session is ended (as disabling
      // the account would), before the code step turns it active.
      const locker = new pg.Client({ connectionString: system.databaseUrl });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('SELECT 1 FROM staff_accounts WHERE login = $1 FOR UPDATE', [security.login]);
        const coded = security.request('POST', '/api/v1/auth/code', { code: security.code() });
        await vi.waitFor(
          async () => {
            const [row] = await rows(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND query LIKE '%SET totp_last_step%'`,
            );
            expect(row?.n).toBe(1);
          },
          { timeout: 20_000, interval: 20 },
        );
        await locker.query(
          'DELETE FROM staff_sessions WHERE staff_id = (SELECT id FROM staff_accounts WHERE login = $1)',
          [security.login],
        );
        await locker.query('COMMIT');
        expect((await coded).statusCode).toBe(401);
      } finally {
        await locker.end();
      }
      const entries = await rows(`SELECT action FROM audit_log WHERE actor = $1 AND action = 'staff.login'`, [
        `staff:${security.login}`,
      ]);
      // system.staff() signed in by enrolling (staff.totp-enrolled): no sign-in was written.
      expect(entries).toEqual([]);
    });

    it('counts no re-authentication unaudited (staff.reauthenticated)', async () => {
      const other = await system.staff('admin');
      const response = await whileRefused('staff.reauthenticated', () =>
        other.request('POST', '/api/v1/auth/reauth', { password: other.password, code: other.code() }),
      );
      expectRefused(response);
      expect((await other.request('GET', '/api/v1/session')).json()).toMatchObject({ reauthFresh: false });
    });

    it('keeps the old password when the change cannot be audited (staff.password-changed)', async () => {
      const security = await system.staff('security');
      const next = 'a brand new and long passphrase 2026';
      const response = await whileRefused('staff.password-changed', () =>
        security.request('POST', '/api/v1/auth/password', { current: security.password, next }),
      );
      expectRefused(response);
      const withOld = await security.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: security.login, password: security.password },
      });
      expect(withOld.statusCode).toBe(200);
    });

    /**
     * Holds the administrators' turn while `act` starts, disables `acting` once its change waits
     * for the turn, then lets it go: what the change answers with its administrator gone.
     */
    const disabledWhileWaiting = async (
      acting: StaffClient,
      act: () => Promise<LightMyRequestResponse>,
    ): Promise<LightMyRequestResponse> => {
      await acting.confirm();
      const locker = new pg.Client({ connectionString: system.databaseUrl });
      await locker.connect();
      try {
        await locker.query(`SELECT pg_advisory_lock(hashtext('identgate/staff-administration'))`);
        const answer = act();
        await vi.waitFor(
          async () => {
            const [row] = await rows(
              `SELECT count(*)::int AS n FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_xact_lock%'`,
            );
            expect(row?.n).toBe(1);
          },
          { timeout: 20_000, interval: 20 },
        );
        await locker.query('UPDATE staff_accounts SET disabled_at = now() WHERE login = $1', [acting.login]);
        await locker.query(`SELECT pg_advisory_unlock(hashtext('identgate/staff-administration'))`);
        return await answer;
      } finally {
        await locker.end();
      }
    };

    it('changes nothing for an administrator disabled while their change waited for its turn', async () => {
      const acting = await system.staff('admin');
      const target = await system.staff('security');
      const answer = await disabledWhileWaiting(acting, () =>
        acting.request('PATCH', `/api/v1/staff/${target.login}`, { resetTotp: true }),
      );
      expect({ status: answer.statusCode, code: answer.json().code }).toEqual({
        status: 403,
        code: 'IDG_AUTH_FORBIDDEN',
      });
      expect(
        await rows('SELECT totp_secret_sealed IS NOT NULL AS enrolled FROM staff_accounts WHERE login = $1', [
          target.login,
        ]),
      ).toEqual([{ enrolled: true }]);
    });

    it('creates no account for an administrator disabled while the creation waited for its turn', async () => {
      const acting = await system.staff('admin');
      const answer = await disabledWhileWaiting(acting, () =>
        acting.request('POST', '/api/v1/staff', {
          login: 'made-too-late',
          displayName: 'Too Late',
          role: 'security',
        }),
      );
      expect({ status: answer.statusCode, code: answer.json().code }).toEqual({
        status: 403,
        code: 'IDG_AUTH_FORBIDDEN',
      });
      expect(await rows('SELECT login FROM staff_accounts WHERE login = $1', ['made-too-late'])).toEqual([]);
    });

    // Last: it leaves exactly one enabled administrator.
    it('leaves an administrator when two disable each other at the same moment', async () => {
      const first = await system.staff('admin');
      const second = await system.staff('admin');
      await first.confirm();
      const others = await rows(
        `SELECT login FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL AND login <> ALL($1)`,
        [[first.login, second.login]],
      );
      for (const { login } of others as Array<{ login: string }>) {
        expect((await first.request('PATCH', `/api/v1/staff/${login}`, { disabled: true })).statusCode).toBe(
          200,
        );
      }
      await second.confirm();
      const answers = await Promise.all([
        first.request('PATCH', `/api/v1/staff/${second.login}`, { disabled: true }),
        second.request('PATCH', `/api/v1/staff/${first.login}`, { disabled: true }),
      ]);
      // The one that lost the turn finds itself disabled (403), or its session already ended (401)
      // when the other committed before its request was even let in: one administrator stays.
      const [won, lost] = answers.map((a) => a.statusCode).sort();
      expect(won).toBe(200);
      expect([401, 403]).toContain(lost);
      expect(
        await rows(
          `SELECT count(*)::int AS n FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL`,
        ),
      ).toEqual([{ n: 1 }]);
    });
  });
});
