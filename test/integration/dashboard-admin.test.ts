import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

interface AuditRow {
  actor: string;
  target: string | null;
  details: Record<string, unknown>;
}

describe('dashboard administration: staff, people, retention, directory', () => {
  let system: TestSystem;
  let admin: StaffClient;
  let security: StaffClient;
  let auditor: StaffClient;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    security = await system.staff('security');
    auditor = await system.staff('auditor');
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  async function audited(action: string): Promise<AuditRow[]> {
    const rows = await db.query<AuditRow>(
      'SELECT actor, target, details FROM audit_log WHERE action = $1 ORDER BY id',
      [action],
    );
    return rows.rows;
  }

  describe('access', () => {
    it('refuses every administration route to security staff and auditors', async () => {
      const adminOnly = system.dashboard.http.routeTable.filter(
        (r) => Array.isArray(r.roles) && r.roles.length === 1 && r.roles[0] === 'admin',
      );
      expect(adminOnly.length).toBeGreaterThanOrEqual(4);
      for (const route of adminOnly) {
        const url = route.url.replace(/:[a-zA-Z]+/g, 'x1');
        for (const client of [security, auditor]) {
          const response = await client.request(
            route.method as 'GET',
            url,
            route.method === 'GET' ? undefined : {},
          );
          expect(response.statusCode, `${route.method} ${route.url}`).toBe(403);
          expect(response.json().code).toBe('IDG_AUTH_FORBIDDEN');
        }
      }
    });

    it('asks for a fresh re-authentication before a staff account is created or changed', async () => {
      const fresh = await system.staff('admin');
      const created = await fresh.request('POST', '/api/v1/staff', {
        login: 'no-reauth',
        displayName: 'Nora Reauth',
        role: 'security',
      });
      expect(created.statusCode).toBe(403);
      expect(created.json().code).toBe('IDG_AUTH_REAUTH');
      const changed = await fresh.request('PATCH', `/api/v1/staff/${security.login}`, { disabled: true });
      expect(changed.statusCode).toBe(403);
      expect(changed.json().code).toBe('IDG_AUTH_REAUTH');
    });
  });

  describe('staff accounts', () => {
    it('creates an account with a one-time enrolment link that the owner uses to choose a password', async () => {
      await admin.reauth();
      const created = await admin.request('POST', '/api/v1/staff', {
        login: 'Grace.Hopper',
        displayName: 'Grace Hopper',
        role: 'security',
      });
      expect(created.statusCode, created.body).toBe(201);
      const { account, invitation } = created.json();
      expect(account).toMatchObject({
        login: 'grace.hopper',
        role: 'security',
        disabled: false,
        totpEnrolled: false,
        invitationPending: true,
      });
      expect(invitation.token).toMatch(/^[A-Za-z0-9_-]{32}$/);

      const weak = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/invitation',
        payload: { token: invitation.token, password: 'grace hopper 12345' },
      });
      expect(weak.statusCode).toBe(400);
      expect(weak.json().code).toBe('IDG_AUTH_PASSWORD');
      const password = 'compiler moth lantern 1952';
      const accepted = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/invitation',
        payload: { token: invitation.token, password },
      });
      expect(accepted.statusCode, accepted.body).toBe(200);
      const again = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/invitation',
        payload: { token: invitation.token, password },
      });
      expect(again.statusCode).toBe(403);

      const login = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: 'grace.hopper', password },
      });
      expect(login.statusCode).toBe(200);
      expect(login.json().stage).toBe('enrol');
      expect(await audited('staff.invitation-issued')).toEqual([
        expect.objectContaining({ actor: `staff:${admin.login}`, target: 'staff:grace.hopper' }),
      ]);
      expect(await audited('staff.invitation-accepted')).toHaveLength(1);
      const list = await admin.request('GET', '/api/v1/staff');
      expect(list.json().accounts).toContainEqual(
        expect.objectContaining({ login: 'grace.hopper', invitationPending: false }),
      );
    });

    it('refuses hostile or malformed input with a clear 400 or 409', async () => {
      await admin.reauth();
      const cases: Array<[unknown, number]> = [
        [{ login: 'x'.repeat(300), displayName: 'Long Login', role: 'security' }, 400],
        [{ login: '../etc', displayName: 'Path', role: 'security' }, 400],
        [{ login: 'good-login', displayName: 'N'.repeat(121), role: 'security' }, 400],
        [{ login: 'good-login', displayName: '   ', role: 'security' }, 400],
        [{ login: 'good-login', displayName: 'Root', role: 'root' }, 400],
        [{ login: 'good-login', displayName: 'Extra', role: 'security', password: 'x' }, 400],
        [{ login: security.login, displayName: 'Taken', role: 'security' }, 409],
      ];
      for (const [body, status] of cases) {
        const response = await admin.request('POST', '/api/v1/staff', body);
        expect(response.statusCode, JSON.stringify(body)).toBe(status);
        expect(response.json().message).toBeTruthy();
      }
      const unknown = await admin.request('PATCH', '/api/v1/staff/nobody-here', { disabled: true });
      expect(unknown.statusCode).toBe(404);
      const empty = await admin.request('PATCH', `/api/v1/staff/${security.login}`, {});
      expect(empty.statusCode).toBe(400);
      const badToken = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/invitation',
        payload: { token: 'A'.repeat(32), password: 'compiler moth lantern 1952' },
      });
      expect(badToken.statusCode).toBe(403);
    });

    it('changes a role, ending the sessions of that account, and audits it', async () => {
      const target = await system.staff('security');
      expect((await target.request('GET', '/api/v1/session')).json().authenticated).toBe(true);
      await admin.reauth();
      const changed = await admin.request('PATCH', `/api/v1/staff/${target.login}`, { role: 'auditor' });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json()).toMatchObject({ login: target.login, role: 'auditor' });
      expect((await target.request('GET', '/api/v1/session')).json().authenticated).toBe(false);
      expect(await audited('staff.role-changed')).toContainEqual(
        expect.objectContaining({
          actor: `staff:${admin.login}`,
          target: `staff:${target.login}`,
          details: { from: 'security', to: 'auditor' },
        }),
      );
    });

    it('disables and enables an account; a disabled account cannot sign in', async () => {
      const target = await system.staff('auditor');
      await admin.reauth();
      const disabled = await admin.request('PATCH', `/api/v1/staff/${target.login}`, { disabled: true });
      expect(disabled.json()).toMatchObject({ disabled: true });
      expect((await target.request('GET', '/api/v1/session')).json().authenticated).toBe(false);
      await expect(target.signIn()).rejects.toThrow(/login failed/);
      const enabled = await admin.request('PATCH', `/api/v1/staff/${target.login}`, { disabled: false });
      expect(enabled.json()).toMatchObject({ disabled: false });
      expect(await audited('staff.disabled')).toContainEqual(
        expect.objectContaining({ target: `staff:${target.login}` }),
      );
      expect(await audited('staff.enabled')).toContainEqual(
        expect.objectContaining({ target: `staff:${target.login}` }),
      );
    });

    it('resets a lost authenticator: the owner enrols again at the next sign-in', async () => {
      const target = await system.staff('security');
      await admin.reauth();
      const reset = await admin.request('PATCH', `/api/v1/staff/${target.login}`, { resetTotp: true });
      expect(reset.json()).toMatchObject({ totpEnrolled: false });
      const login = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: target.login, password: target.password },
      });
      expect(login.json().stage).toBe('enrol');
      expect(await audited('staff.totp-reset')).toContainEqual(
        expect.objectContaining({ target: `staff:${target.login}` }),
      );
    });

    it('issues a new link for a forgotten password: the old password stops working', async () => {
      const target = await system.staff('security');
      await admin.reauth();
      const issued = await admin.request('POST', `/api/v1/staff/${target.login}/invitation`);
      expect(issued.statusCode, issued.body).toBe(200);
      expect((await target.request('GET', '/api/v1/session')).json().authenticated).toBe(false);
      await expect(target.signIn()).rejects.toThrow(/login failed/);
      const accepted = await system.dashboard.http.inject({
        method: 'POST',
        url: '/api/v1/invitation',
        payload: { token: issued.json().token, password: 'a brand new passphrase 77' },
      });
      expect(accepted.statusCode).toBe(200);
    });

    it('does not let an administrator change their own role or disable themselves', async () => {
      await admin.reauth();
      const demote = await admin.request('PATCH', `/api/v1/staff/${admin.login}`, { role: 'security' });
      expect(demote.statusCode).toBe(409);
      const disable = await admin.request('PATCH', `/api/v1/staff/${admin.login}`, { disabled: true });
      expect(disable.statusCode).toBe(409);
      expect((await admin.request('GET', '/api/v1/session')).json()).toMatchObject({ role: 'admin' });
    });
  });
});
