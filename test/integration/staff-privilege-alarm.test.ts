import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import { refuseInserts } from '../helpers/refuse-inserts.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * An administrator controls the staff accounts, so one could take a `security` or `admin` account
 * for themselves. Every change that could do that raises a critical `staff-privilege-granted`
 * alarm for security staff, in the change's own transaction: no such change without its alarm.
 * Against the real dashboard and PostgreSQL.
 */
describe('staff accounts: an alarm for security staff when a privileged account may change hands', () => {
  let system: TestSystem;
  let admin: StaffClient;
  let security: StaffClient;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    // The first administrator, through the setup link, before any other account exists.
    const setup = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: {
        token: system.dashboard.setupToken,
        login: 'first-admin',
        displayName: 'First Admin',
        password: 'violet kettle umbrella 4711',
      },
    });
    expect(setup.statusCode, setup.body).toBe(201);
    admin = await system.staff('admin');
    security = await system.staff('security');
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const rows = async (sql: string, values: unknown[] = []) => (await db.query(sql, values)).rows;

  /** The staff-privilege-granted alarms as security staff list them, oldest first. */
  const privilegeAlarms = async (): Promise<AlarmView[]> => {
    const response = await security.request('GET', '/api/v1/alarms?state=all&limit=500');
    expect(response.statusCode).toBe(200);
    return (response.json().alarms as AlarmView[])
      .filter((a) => a.alarm === 'staff-privilege-granted')
      .reverse();
  };

  /** Runs `act` as an administrator's confirmed action; answers its response and the alarms it raised. */
  const raisedBy = async (act: () => Promise<LightMyRequestResponse | unknown>) => {
    await admin.confirm();
    const before = new Set((await privilegeAlarms()).map((a) => a.id));
    const response = await act();
    return { response, raised: (await privilegeAlarms()).filter((a) => !before.has(a.id)) };
  };

  const ok = (response: unknown, status = 200) => {
    const answer = response as LightMyRequestResponse;
    expect(answer.statusCode, answer.body).toBe(status);
    return answer;
  };

  const auditId = async (action: string, target: string) =>
    Number(
      (
        await rows('SELECT max(id) AS id FROM audit_log WHERE action = $1 AND target = $2', [
          action,
          `staff:${target}`,
        ])
      )[0]?.id,
    );

  const createAs = (login: string, role: string) =>
    admin.request('POST', '/api/v1/staff', { login, displayName: `Person ${login}`, role });

  describe('raises one critical alarm, naming who did what to which account', () => {
    it('when a security account is created with its enrolment link', async () => {
      const { response, raised } = await raisedBy(() => createAs('new-guard', 'security'));
      ok(response, 201);
      const entry = await auditId('staff.created', 'new-guard');
      expect(raised).toEqual([
        expect.objectContaining({
          source: 'central',
          site: null,
          severity: 'critical',
          state: 'active',
          detail: `security account staff:new-guard: created, enrolment link issued by staff:${admin.login} (audit entry ${entry})`,
        }),
      ]);
    });

    it('when an administrator account is created', async () => {
      const { response, raised } = await raisedBy(() => createAs('new-admin', 'admin'));
      ok(response, 201);
      expect(raised.map((a) => a.detail)).toEqual([
        expect.stringMatching(/^admin account staff:new-admin: created, enrolment link issued by staff:/),
      ]);
    });

    it('when an account is created through the service rather than the API (a tool, a test)', async () => {
      const { raised } = await raisedBy(() =>
        system.dashboard.auth.createAccount(
          {
            login: 'tool-made',
            displayName: 'Tool Made',
            password: 'quiet harbour lantern 2026',
            role: 'security',
          },
          { tool: 'cli:ops' },
        ),
      );
      expect(raised.map((a) => a.detail)).toEqual([
        expect.stringMatching(/^security account staff:tool-made: created by cli:ops \(audit entry \d+\)$/),
      ]);
    });

    it('when an account is given the security or the admin role', async () => {
      const target = await system.staff('auditor');
      const toSecurity = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { role: 'security' }),
      );
      ok(toSecurity.response);
      const toAdmin = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { role: 'admin' }),
      );
      ok(toAdmin.response);
      const entries = await rows(
        `SELECT id FROM audit_log WHERE action = 'staff.role-changed' AND target = $1 ORDER BY id`,
        [`staff:${target.login}`],
      );
      const [first, second] = entries.map((r) => Number(r.id));
      expect([...toSecurity.raised, ...toAdmin.raised].map((a) => a.detail)).toEqual([
        `security account staff:${target.login}: role changed from auditor to security by staff:${admin.login} (audit entry ${first})`,
        `admin account staff:${target.login}: role changed from security to admin by staff:${admin.login} (audit entry ${second})`,
      ]);
    });

    it('when a disabled security account is enabled again (disabling raises none)', async () => {
      const target = await system.staff('security');
      const disabled = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { disabled: true }),
      );
      ok(disabled.response);
      expect(disabled.raised).toEqual([]);
      const enabled = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { disabled: false }),
      );
      ok(enabled.response);
      expect(enabled.raised.map((a) => a.detail)).toEqual([
        `security account staff:${target.login}: enabled by staff:${admin.login} (audit entry ${await auditId('staff.enabled', target.login)})`,
      ]);
    });

    it('when a new enrolment link is issued for a security account (its password reset with it)', async () => {
      const target = await system.staff('security');
      const { response, raised } = await raisedBy(() =>
        admin.request('POST', `/api/v1/staff/${target.login}/invitation`),
      );
      ok(response);
      const entry = await auditId('staff.password-reset', target.login);
      expect(raised.map((a) => a.detail)).toEqual([
        `security account staff:${target.login}: password reset, enrolment link issued by staff:${admin.login} (audit entry ${entry})`,
      ]);
      expect(await auditId('staff.invitation-issued', target.login)).toBeGreaterThan(entry);
    });

    it("when a security account's authenticator is reset", async () => {
      const target = await system.staff('security');
      const { response, raised } = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { resetTotp: true }),
      );
      ok(response);
      expect(raised.map((a) => a.detail)).toEqual([
        `security account staff:${target.login}: authenticator reset by staff:${admin.login} (audit entry ${await auditId('staff.totp-reset', target.login)})`,
      ]);
    });

    it("when an administrator's password is reset by another administrator", async () => {
      const target = await system.staff('admin');
      const actor = await system.dashboard.staff.byLogin(admin.login);
      const { raised } = await raisedBy(() =>
        system.dashboard.auth.administer(actor as NonNullable<typeof actor>, target.login, {
          password: 'another long passphrase 31',
        }),
      );
      expect(raised.map((a) => a.detail)).toEqual([
        `admin account staff:${target.login}: password reset by staff:${admin.login} (audit entry ${await auditId('staff.password-reset', target.login)})`,
      ]);
    });

    it('and pushes it to the live clients once committed', async () => {
      const pushed: AlarmView[] = [];
      const unsubscribe = system.dashboard.hub.subscribe({
        push: () => true,
        pushAlarms: (alarms) => {
          pushed.push(...alarms);
          return true;
        },
        close: () => {},
      });
      try {
        const { raised } = await raisedBy(() => createAs('pushed-guard', 'security'));
        expect(raised).toHaveLength(1);
        expect(pushed).toEqual([expect.objectContaining({ id: raised[0]?.id, state: 'active' })]);
      } finally {
        unsubscribe();
      }
    });
  });

  describe('a disabled account comes back only with its new link, in one change', () => {
    it('refuses the link alone, and with ?enable=true enables it, ends the old password and tells security staff', async () => {
      const target = await system.staff('security');
      ok(
        (await raisedBy(() => admin.request('PATCH', `/api/v1/staff/${target.login}`, { disabled: true })))
          .response,
      );
      const alone = await raisedBy(() => admin.request('POST', `/api/v1/staff/${target.login}/invitation`));
      expect((alone.response as LightMyRequestResponse).json()).toMatchObject({
        statusCode: 409,
        code: 'IDG_AUTH_CONFLICT',
      });
      expect(alone.raised).toEqual([]);
      const both = await raisedBy(() =>
        admin.request('POST', `/api/v1/staff/${target.login}/invitation?enable=true`),
      );
      expect(ok(both.response).json().token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(both.raised.map((a) => a.detail)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^security account staff:${target.login}: password reset, enabled, enrolment link issued by staff:${admin.login} `,
          ),
        ),
      ]);
      const old = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: target.login, password: target.password },
      });
      expect(old.statusCode).toBe(401);
      const listed = (await admin.request('GET', '/api/v1/staff')).json().accounts as Array<{
        login: string;
        disabled: boolean;
        invitationPending: boolean;
      }>;
      expect(listed.find((a) => a.login === target.login)).toMatchObject({
        disabled: false,
        invitationPending: true,
      });
    });
  });

  describe('raises none', () => {
    it("for the first administrator's setup, when nobody else existed", async () => {
      const alarms = await privilegeAlarms();
      expect(alarms.filter((a) => a.detail?.includes('staff:first-admin'))).toEqual([]);
    });

    it('for an auditor account: created, its link issued anew, its authenticator reset', async () => {
      const created = await raisedBy(() => createAs('new-auditor', 'auditor'));
      ok(created.response, 201);
      const reissued = await raisedBy(() => admin.request('POST', '/api/v1/staff/new-auditor/invitation'));
      ok(reissued.response);
      const reset = await raisedBy(() =>
        admin.request('PATCH', '/api/v1/staff/new-auditor', { resetTotp: true }),
      );
      ok(reset.response);
      expect([...created.raised, ...reissued.raised, ...reset.raised]).toEqual([]);
    });

    it('for a demotion to auditor, a change that changes nothing, or an owner changing their own password', async () => {
      const target = await system.staff('security');
      const demoted = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${target.login}`, { role: 'auditor' }),
      );
      ok(demoted.response);
      const owner = await system.staff('security');
      const unchanged = await raisedBy(() =>
        admin.request('PATCH', `/api/v1/staff/${owner.login}`, { disabled: false }),
      );
      ok(unchanged.response);
      await owner.signIn();
      const own = await raisedBy(() =>
        owner.request('POST', '/api/v1/auth/password', {
          current: owner.password,
          next: 'my very own new passphrase 99',
        }),
      );
      ok(own.response, 204);
      expect([...demoted.raised, ...unchanged.raised, ...own.raised]).toEqual([]);
    });
  });

  describe('security staff handle it', () => {
    it('acknowledges and resolves it at once (an incident); administrators and auditors may not', async () => {
      const { raised } = await raisedBy(() => createAs('handled-guard', 'security'));
      const id = raised[0]?.id;
      const auditor = await system.staff('auditor');
      for (const client of [admin, auditor]) {
        const refused = await client.request('POST', `/api/v1/alarms/${id}/acknowledge`, { comment: 'mine' });
        expect([refused.statusCode, refused.json().code]).toEqual([403, 'IDG_AUTH_FORBIDDEN']);
      }
      const acknowledged = await security.request('POST', `/api/v1/alarms/${id}/acknowledge`, {
        comment: 'calling the administrator',
      });
      expect(acknowledged.json()).toMatchObject({ state: 'acknowledged', acknowledgedBy: security.login });
      const resolved = await security.request('POST', `/api/v1/alarms/${id}/resolve`, {
        comment: 'new colleague, confirmed with the shift lead',
      });
      expect(resolved.json()).toMatchObject({ state: 'resolved', resolvedBy: security.login });
    });
  });

  describe('no change without its alarm', () => {
    /** Makes every insert of a staff-privilege-granted alarm fail while `act` runs; answers its response. */
    const whileAlarmRefused = async (act: () => Promise<LightMyRequestResponse>) => {
      await admin.confirm();
      const restore = await refuseInserts(db, 'alarms', `NEW.alarm = 'staff-privilege-granted'`);
      try {
        return await act();
      } finally {
        await restore();
      }
    };

    const expectRefused = (response: LightMyRequestResponse) => {
      expect({ status: response.statusCode, code: response.json().code }).toEqual({
        status: 503,
        code: 'IDG_ALARM_UNAVAILABLE',
      });
      expect(response.body).not.toContain('token');
    };

    const account = (login: string) =>
      rows(
        `SELECT a.role, a.password_hash, a.disabled_at, a.totp_secret_sealed,
                (SELECT count(*)::int FROM staff_invitations i WHERE i.staff_id = a.id) AS links
           FROM staff_accounts a WHERE a.login = $1`,
        [login],
      );
    const entriesAbout = (login: string) =>
      rows('SELECT action FROM audit_log WHERE target = $1 ORDER BY id', [`staff:${login}`]);

    it('creates no account, link or audit entry', async () => {
      expectRefused(await whileAlarmRefused(() => createAs('never-guard', 'security')));
      expect(await account('never-guard')).toEqual([]);
      expect(await entriesAbout('never-guard')).toEqual([]);
    });

    it('changes no role and ends no session', async () => {
      const target = await system.staff('auditor');
      const before = { account: await account(target.login), entries: await entriesAbout(target.login) };
      expectRefused(
        await whileAlarmRefused(() =>
          admin.request('PATCH', `/api/v1/staff/${target.login}`, { role: 'security' }),
        ),
      );
      expect({ account: await account(target.login), entries: await entriesAbout(target.login) }).toEqual(
        before,
      );
      expect((await target.request('GET', '/api/v1/session')).json()).toMatchObject({
        authenticated: true,
        role: 'auditor',
      });
    });

    it('issues no link and keeps the password, the authenticator and the sessions', async () => {
      const target = await system.staff('security');
      const before = { account: await account(target.login), entries: await entriesAbout(target.login) };
      expectRefused(
        await whileAlarmRefused(() => admin.request('POST', `/api/v1/staff/${target.login}/invitation`)),
      );
      expectRefused(
        await whileAlarmRefused(() =>
          admin.request('PATCH', `/api/v1/staff/${target.login}`, { resetTotp: true }),
        ),
      );
      expect({ account: await account(target.login), entries: await entriesAbout(target.login) }).toEqual(
        before,
      );
      expect((await target.request('GET', '/api/v1/alarms')).statusCode).toBe(200);
    });
  });

  // Last: it leaves the system without an enabled administrator but the one it makes.
  it('raises one for a setup that replaces lost administrators while other accounts exist', async () => {
    await db.query(`UPDATE staff_accounts SET disabled_at = now() WHERE role = 'admin'`);
    const token = await system.dashboard.auth.setupToken();
    const before = new Set((await privilegeAlarms()).map((a) => a.id));
    const setup = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/setup',
      payload: {
        token,
        login: 'replacement',
        displayName: 'Re Placement',
        password: 'violet kettle umbrella 4712',
      },
    });
    expect(setup.statusCode, setup.body).toBe(201);
    expect((await privilegeAlarms()).filter((a) => !before.has(a.id)).map((a) => a.detail)).toEqual([
      `admin account staff:replacement: created by setup (audit entry ${await auditId('staff.created', 'replacement')})`,
    ]);
  });
});
