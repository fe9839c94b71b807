import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { Envelope } from '../../src/protocol/envelope.js';
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
  /** An administrator who never re-authenticates: sensitive routes must refuse them. */
  let unconfirmed: StaffClient;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    security = await system.staff('security');
    auditor = await system.staff('auditor');
    unconfirmed = await system.staff('admin');
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
      expect(adminOnly.length).toBeGreaterThanOrEqual(27);
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

    it('describes every administration route in the OpenAPI document, with the roles allowed', async () => {
      const document = system.dashboard.http.swagger() as {
        paths: Record<string, Record<string, { description?: string }>>;
      };
      const { paths } = document;
      expect(paths['/api/v1/people/{id}/totp']?.post?.description).toMatch(
        /Roles: admin; needs a fresh re-authentication/,
      );
      expect(paths['/api/v1/directory']?.get?.description).toMatch(/Roles: admin, security, auditor/);
      expect(Object.keys(paths).filter((p) => p.startsWith('/api/v1/staff')).length).toBe(3);
    });

    it('asks for a fresh re-authentication before a staff account is created or changed', async () => {
      const created = await unconfirmed.request('POST', '/api/v1/staff', {
        login: 'no-reauth',
        displayName: 'Nora Reauth',
        role: 'security',
      });
      expect(created.statusCode).toBe(403);
      expect(created.json().code).toBe('IDG_AUTH_REAUTH');
      const changed = await unconfirmed.request('PATCH', `/api/v1/staff/${security.login}`, {
        disabled: true,
      });
      expect(changed.statusCode).toBe(403);
      expect(changed.json().code).toBe('IDG_AUTH_REAUTH');
    });
  });

  describe('staff accounts', () => {
    it('creates an account with a one-time enrolment link that the owner uses to choose a password', async () => {
      await admin.confirm();
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
      // The used link is refused; that names no account, so no address is kept for it.
      expect(await audited('staff.invitation-refused')).toEqual([
        { actor: 'anonymous', target: null, details: {} },
      ]);
      const list = await admin.request('GET', '/api/v1/staff');
      expect(list.json().accounts).toContainEqual(
        expect.objectContaining({ login: 'grace.hopper', invitationPending: false }),
      );
    });

    it('refuses hostile or malformed input with a clear 400 or 409', async () => {
      await admin.confirm();
      const cases: Array<[unknown, number]> = [
        [{ login: 'x'.repeat(300), displayName: 'Long Login', role: 'security' }, 400],
        [{ login: '../etc', displayName: 'Path', role: 'security' }, 400],
        [{ login: 'good-login', displayName: 'N'.repeat(121), role: 'security' }, 400],
        [{ login: 'good-login', displayName: '   ', role: 'security' }, 400],
        [{ login: 'good-login', displayName: 'Line\nbreak', role: 'security' }, 400],
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
      await admin.confirm();
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
      await admin.confirm();
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
      await admin.confirm();
      const reset = await admin.request('PATCH', `/api/v1/staff/${target.login}`, { resetTotp: true });
      expect(reset.json()).toMatchObject({ totpEnrolled: false });
      // The sessions opened with the old authenticator end with it.
      expect((await target.request('GET', '/api/v1/session')).json().authenticated).toBe(false);
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
      await admin.confirm();
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
      await admin.confirm();
      const demote = await admin.request('PATCH', `/api/v1/staff/${admin.login}`, { role: 'security' });
      expect(demote.statusCode).toBe(409);
      const disable = await admin.request('PATCH', `/api/v1/staff/${admin.login}`, { disabled: true });
      expect(disable.statusCode).toBe(409);
      expect((await admin.request('GET', '/api/v1/session')).json()).toMatchObject({ role: 'admin' });
    });
  });
  describe('people', () => {
    const sim = (...action: string[]) =>
      runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
    const credentialsUpdated = () =>
      new Promise<Envelope>((resolve) => {
        const off = system.gateway.bus.on('admin-test', 'recorded', (e) => {
          if (e.kind === 'credentials.updated') {
            off();
            resolve(e);
          }
        });
      });

    it('enrols a new agent end to end: badge, site, TOTP shown once; the gateway then opens for them', async () => {
      const created = await admin.request('POST', '/api/v1/people', {
        id: 'agent-lin',
        displayName: 'Lin Agent',
        backgroundCheckOn: '2026-01-15',
        trainingOn: '2026-02-01',
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json()).toMatchObject({ id: 'agent-lin', totpEnrolled: false, sites: [], badges: [] });
      const badge = await admin.request('POST', '/api/v1/people/agent-lin/badges', { badge: '0009001' });
      expect(badge.statusCode, badge.body).toBe(200);
      const granted = await admin.request('PUT', `/api/v1/people/agent-lin/sites/${system.site}`);
      expect(granted.json().person.sites).toEqual([system.site]);

      const refused = await unconfirmed.request('POST', '/api/v1/people/agent-lin/totp');
      expect(refused.json().code).toBe('IDG_AUTH_REAUTH');
      await admin.confirm();
      const updated = credentialsUpdated();
      const enrolled = await admin.request('POST', '/api/v1/people/agent-lin/totp');
      expect(enrolled.statusCode, enrolled.body).toBe(200);
      expect(enrolled.headers['cache-control']).toBe('no-store');
      const { otpauthUri, qrSvg, sync } = enrolled.json();
      expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/identgate:agent-lin\?secret=[A-Z2-7]{32}&/);
      expect(qrSvg).toContain('<svg');
      expect(sync).toEqual({ status: 'published', gateways: 1 });
      await updated;

      const secret = new URL(otpauthUri).searchParams.get('secret') as string;
      expect(await sim('badge', '0009001')).toEqual(['awaiting code (20 s)']);
      expect(await sim('keypad', new TotpVerifier().generate(secret, Date.now()))).toEqual([
        'granted: unlocked for 5 s',
      ]);
      const detail = await admin.request('GET', '/api/v1/people/agent-lin');
      expect(detail.json()).toMatchObject({ totpEnrolled: true, activeBadges: 1 });
      expect(JSON.stringify(detail.json())).not.toContain(secret);
      const sealed = await db.query<{ totp_secret_sealed: string }>(
        "SELECT totp_secret_sealed FROM people WHERE id = 'agent-lin'",
      );
      expect(sealed.rows[0]?.totp_secret_sealed).not.toContain(secret);
      const rows = await audited('person.totp-enrolled');
      expect(rows).toEqual([
        expect.objectContaining({ actor: `staff:${admin.login}`, target: 'person:agent-lin' }),
      ]);
      expect(JSON.stringify(rows)).not.toContain(secret);
    });

    it('revokes a badge and the gateway refuses it with the set it receives at once', async () => {
      const updated = credentialsUpdated();
      const revoked = await admin.request('POST', '/api/v1/people/agent-lin/badges/0009001/revoke');
      expect(revoked.statusCode, revoked.body).toBe(200);
      expect(revoked.json().person.badges).toEqual([
        expect.objectContaining({ badge: '0009001', status: 'revoked' }),
      ]);
      await updated;
      expect(await sim('badge', '0009001')).toEqual(['denied: badge revoked']);
      expect(await audited('person.badge-revoked')).toEqual([
        expect.objectContaining({ target: 'person:agent-lin', details: { badge: '0009001' } }),
      ]);
    });

    it('lists and searches people by name, id or badge', async () => {
      const all = await admin.request('GET', '/api/v1/people');
      expect(all.json().people.map((p: { id: string }) => p.id)).toEqual(
        expect.arrayContaining(['agent-ada', 'agent-lin']),
      );
      const byName = await admin.request('GET', '/api/v1/people?q=lin%20ag');
      expect(byName.json().people.map((p: { id: string }) => p.id)).toEqual(['agent-lin']);
      const byBadge = await admin.request('GET', `/api/v1/people?q=${system.agent.badge}`);
      expect(byBadge.json().people.map((p: { id: string }) => p.id)).toEqual(['agent-ada']);
      const wildcard = await admin.request('GET', '/api/v1/people?q=%25');
      expect(wildcard.json().people).toEqual([]);
    });

    it('updates the compliance dates and clears one with null', async () => {
      const changed = await admin.request('PATCH', '/api/v1/people/agent-lin', {
        trainingOn: '2026-03-01',
        backgroundCheckOn: null,
      });
      expect(changed.statusCode, changed.body).toBe(200);
      expect(changed.json().person).toMatchObject({
        displayName: 'Lin Agent',
        trainingOn: '2026-03-01',
        backgroundCheckOn: null,
      });
      expect(await audited('person.updated')).toContainEqual(
        expect.objectContaining({ details: { fields: ['backgroundCheckOn', 'trainingOn'] } }),
      );
    });

    it("refuses bad ids, malformed dates, someone else's badge, unknown sites and over-long names", async () => {
      const cases: Array<[string, string, unknown, number]> = [
        ['POST', '/api/v1/people', { id: 'a/b', displayName: 'Slash' }, 400],
        ['POST', '/api/v1/people', { id: 'agent-x', displayName: 'X'.repeat(201) }, 400],
        ['POST', '/api/v1/people', { id: 'agent-x', displayName: 'X', trainingOn: '2026-13-45' }, 400],
        // A year the format allows and PostgreSQL refuses: 400, not a 500 from the database.
        ['POST', '/api/v1/people', { id: 'agent-x', displayName: 'X', trainingOn: '0000-01-01' }, 400],
        ['POST', '/api/v1/people', { id: 'agent-lin', displayName: 'Again' }, 409],
        ['PATCH', '/api/v1/people/agent-lin', { id: 'other' }, 400],
        ['PATCH', '/api/v1/people/nobody', { displayName: 'Nobody' }, 404],
        ['POST', '/api/v1/people/agent-lin/badges', { badge: "0'; DROP TABLE badges; --" }, 400],
        ['POST', '/api/v1/people/agent-lin/badges', { badge: system.agent.badge }, 409],
        [
          'POST',
          '/api/v1/people/agent-lin/badges',
          { badge: '0009002', validFrom: '2026-02-01T00:00:00Z', validUntil: '2026-01-01T00:00:00Z' },
          400,
        ],
        ['PUT', '/api/v1/people/agent-lin/sites/no-such-site', undefined, 404],
        ['DELETE', '/api/v1/people/agent-lin/sites/no-such-site', undefined, 404],
        ['POST', '/api/v1/people/agent-lin/badges/0000000/revoke', undefined, 404],
        ['GET', `/api/v1/people?q=${'q'.repeat(101)}`, undefined, 400],
        ['GET', '/api/v1/people?q=a%00b', undefined, 400],
        ['POST', '/api/v1/people', { id: 'agent-nul', displayName: 'Nul\u0000Byte' }, 400],
        ['PATCH', '/api/v1/people/agent-lin', { displayName: '\u001b[31mred' }, 400],
      ];
      for (const [method, url, body, status] of cases) {
        const response = await admin.request(method as 'POST', url, body);
        expect(response.statusCode, `${method} ${url} ${JSON.stringify(body)}`).toBe(status);
        expect(response.json().message).toBeTruthy();
      }
      const badges = await db.query('SELECT person_id FROM badges WHERE badge = $1', [system.agent.badge]);
      expect(badges.rows).toEqual([{ person_id: 'agent-ada' }]);
    });

    it('erases a person after re-authentication, audited with the reference, not the id', async () => {
      await admin.request('POST', '/api/v1/people', { id: 'agent-gone', displayName: 'Gone Agent' });
      await admin.request('POST', '/api/v1/people/agent-gone/badges', { badge: '0009099' });
      await admin.request('PUT', `/api/v1/people/agent-gone/sites/${system.site}`);
      const refused = await unconfirmed.request('POST', '/api/v1/people/agent-gone/erase', {
        reference: 'DSR-7',
      });
      expect(refused.json().code).toBe('IDG_AUTH_REAUTH');
      await admin.confirm();
      const enrolled = await admin.request('POST', '/api/v1/people/agent-gone/totp');
      expect(enrolled.json().sync).toEqual({ status: 'published', gateways: 1 });
      // The sets published for the enrolment may still be on their way: wait for the erasure's.
      const applied: number[] = [];
      const arrived: Array<() => void> = [];
      const off = system.gateway.bus.on('admin-test-erase', 'recorded', (e) => {
        if (e.kind !== 'credentials.updated') return;
        applied.push((e.data as { version: number }).version);
        for (const wake of arrived.splice(0)) wake();
      });
      const erased = await admin.request('POST', '/api/v1/people/agent-gone/erase', { reference: 'DSR-7' });
      expect(erased.statusCode, erased.body).toBe(200);
      expect(erased.json()).toMatchObject({
        report: { person: true, badges: 1, grants: 1, keptEvents: false },
        sync: { status: 'published', gateways: 1 },
      });
      const published = await db.query<{ version: string }>(
        'SELECT last_value AS version FROM credential_set_version',
      );
      const version = Number(published.rows[0]?.version);
      while (!applied.some((v) => v >= version)) await new Promise<void>((resolve) => arrived.push(resolve));
      off();
      expect(await sim('badge', '0009099')).toEqual(['denied: unknown badge']);
      expect((await admin.request('GET', '/api/v1/people/agent-gone')).statusCode).toBe(404);
      const again = await admin.request('POST', '/api/v1/people/agent-gone/erase', {});
      expect(again.statusCode).toBe(404);
      const rows = await audited('person.erase');
      expect(rows).toEqual([expect.objectContaining({ actor: `staff:${admin.login}` })]);
      expect(JSON.stringify(rows)).toContain('DSR-7');
      expect(JSON.stringify(rows)).not.toContain('agent-gone');
    });
  });
  describe('retention policies and legal holds', () => {
    it('lists the data classes and policies; setting one needs re-authentication and is audited', async () => {
      const overview = await admin.request('GET', '/api/v1/retention/policies');
      expect(overview.statusCode).toBe(200);
      expect(overview.json().classes.map((c: { dataClass: string }) => c.dataClass)).toContain(
        'access-events',
      );
      const body = { dataClass: 'access-events', scope: 'site', scopeId: system.site, days: 30 };
      const refused = await unconfirmed.request('PUT', '/api/v1/retention/policies', body);
      expect(refused.json().code).toBe('IDG_AUTH_REAUTH');
      await admin.confirm();
      const set = await admin.request('PUT', '/api/v1/retention/policies', body);
      expect(set.statusCode, set.body).toBe(200);
      expect(set.json()).toMatchObject({
        dataClass: 'access-events',
        days: 30,
        updatedBy: `staff:${admin.login}`,
      });
      expect((await admin.request('GET', '/api/v1/retention/policies')).json().policies).toContainEqual(
        expect.objectContaining({ scopeId: system.site, days: 30 }),
      );
      expect(await audited('retention.policy.set')).toContainEqual(
        expect.objectContaining({
          actor: `staff:${admin.login}`,
          target: `retention:access-events/site:${system.site}`,
          details: { days: 30, previousDays: null },
        }),
      );
      const removed = await admin.request('POST', '/api/v1/retention/policies/remove', {
        dataClass: 'access-events',
        scope: 'site',
        scopeId: system.site,
      });
      expect(removed.json()).toEqual({ removed: true });
    });

    it('refuses policies outside the allowed range, scope or directory', async () => {
      await admin.confirm();
      const cases: Array<[unknown, number, string]> = [
        [{ dataClass: 'access-events', scope: 'global', days: 0 }, 400, 'IDG_HTTP_BAD_REQUEST'],
        [{ dataClass: 'access-events', scope: 'global', days: 100_000 }, 400, 'IDG_HTTP_BAD_REQUEST'],
        [{ dataClass: 'everything', scope: 'global', days: 10 }, 400, 'IDG_HTTP_BAD_REQUEST'],
        [{ dataClass: 'access-events', scope: 'site', days: 10 }, 400, 'IDG_RETENTION_INVALID'],
        [
          { dataClass: 'access-events', scope: 'site', scopeId: 'nowhere', days: 10 },
          404,
          'IDG_RETENTION_UNKNOWN_SCOPE',
        ],
      ];
      for (const [body, status, code] of cases) {
        const response = await admin.request('PUT', '/api/v1/retention/policies', body);
        expect(response.statusCode, JSON.stringify(body)).toBe(status);
        expect(response.json().code).toBe(code);
      }
    });

    it('places and releases a legal hold, each after re-authentication and audited', async () => {
      const hold = {
        site: system.site,
        from: '2026-01-01T00:00:00Z',
        to: '2026-02-01T00:00:00Z',
        reason: 'CASE-42',
      };
      const refused = await unconfirmed.request('POST', '/api/v1/retention/holds', hold);
      expect(refused.json().code).toBe('IDG_AUTH_REAUTH');
      await admin.confirm();
      const placed = await admin.request('POST', '/api/v1/retention/holds', hold);
      expect(placed.statusCode, placed.body).toBe(201);
      const id = placed.json().id as number;
      expect((await admin.request('GET', '/api/v1/retention/holds')).json().holds).toContainEqual(
        expect.objectContaining({ id, site: system.site, reason: 'CASE-42', releasedAt: null }),
      );
      const backwards = await admin.request('POST', '/api/v1/retention/holds', { ...hold, to: hold.from });
      expect(backwards.statusCode).toBe(400);
      const nul = await admin.request('POST', '/api/v1/retention/holds', { ...hold, reason: 'CASE\u00004' });
      expect(nul.statusCode).toBe(400);
      const released = await admin.request('POST', `/api/v1/retention/holds/${id}/release`);
      expect(released.json()).toMatchObject({ id, releasedBy: `staff:${admin.login}` });
      const twice = await admin.request('POST', `/api/v1/retention/holds/${id}/release`);
      expect(twice.statusCode).toBe(404);
      const bad = await admin.request('POST', '/api/v1/retention/holds/abc/release');
      expect(bad.statusCode).toBe(400);
      expect(await audited('retention.hold.add')).toEqual([
        expect.objectContaining({ actor: `staff:${admin.login}`, target: `hold:${id}` }),
      ]);
      expect(await audited('retention.hold.release')).toEqual([
        expect.objectContaining({ actor: `staff:${admin.login}`, target: `hold:${id}` }),
      ]);
      const withReleased = await admin.request('GET', '/api/v1/retention/holds?includeReleased=true');
      expect(withReleased.json().holds).toContainEqual(expect.objectContaining({ id }));
    });
  });
  describe('directory', () => {
    it('creates a customer, a site with rooms, a door, its reader and a camera, and updates one in place', async () => {
      const steps: Array<[string, unknown, number]> = [
        ['/api/v1/directory/customers/acme', { name: 'ACME Ident GmbH' }, 201],
        [
          '/api/v1/directory/sites/hq',
          { name: 'Headquarters', customer: 'acme', timezone: 'Europe/Berlin' },
          201,
        ],
        ['/api/v1/directory/sites/hq/rooms/ident-1', { name: 'Ident room 1' }, 201],
        ['/api/v1/directory/sites/hq/doors/main', { name: 'Main door', room: 'ident-1' }, 201],
        [
          '/api/v1/directory/sites/hq/readers/main-in',
          { name: 'Main entry', door: 'main', direction: 'entry', model: 'rfideas-pcprox' },
          201,
        ],
        ['/api/v1/directory/sites/hq/cameras/cam-1', { name: 'Ident cam', room: 'ident-1' }, 201],
        ['/api/v1/directory/sites/hq/doors/main', { name: 'Main door (north)', room: 'ident-1' }, 200],
      ];
      for (const [url, body, status] of steps) {
        const response = await admin.request('PUT', url, body);
        expect(response.statusCode, `${url}: ${response.body}`).toBe(status);
      }
      const read = await security.request('GET', '/api/v1/directory');
      expect(read.statusCode).toBe(200);
      const directory = read.json();
      expect(directory.sites).toContainEqual({
        id: 'hq',
        name: 'Headquarters',
        customer: 'acme',
        timezone: 'Europe/Berlin',
      });
      expect(directory.doors).toContainEqual({
        site: 'hq',
        id: 'main',
        name: 'Main door (north)',
        room: 'ident-1',
      });
      expect(directory.readers).toContainEqual({
        site: 'hq',
        id: 'main-in',
        name: 'Main entry',
        door: 'main',
        direction: 'entry',
        model: 'rfideas-pcprox',
      });
      expect(directory.cameras).toContainEqual({
        site: 'hq',
        id: 'cam-1',
        name: 'Ident cam',
        room: 'ident-1',
      });
      expect(await audited('directory.door.updated')).toEqual([
        expect.objectContaining({ actor: `staff:${admin.login}`, target: 'door:hq/main' }),
      ]);
      expect(await audited('directory.reader.created')).toHaveLength(1);
      expect((await auditor.request('GET', '/api/v1/directory')).statusCode).toBe(200);
    });

    it('refuses unknown references, time zones, bad ids and over-long names', async () => {
      const cases: Array<[string, unknown, number]> = [
        ['/api/v1/directory/sites/hq/doors/side', { name: 'Side', room: 'no-room' }, 404],
        ['/api/v1/directory/sites/nowhere/rooms/r1', { name: 'Room' }, 404],
        [
          '/api/v1/directory/sites/hq/readers/r9',
          { name: 'Reader', door: 'no-door', direction: 'entry' },
          404,
        ],
        [
          '/api/v1/directory/sites/hq/readers/r9',
          { name: 'Reader', door: 'main', direction: 'sideways' },
          400,
        ],
        ['/api/v1/directory/sites/b2', { name: 'B2', customer: 'nobody' }, 404],
        ['/api/v1/directory/sites/b2', { name: 'B2', timezone: 'Mars/Olympus' }, 400],
        ['/api/v1/directory/sites/b%2F2', { name: 'B2' }, 400],
        ['/api/v1/directory/sites/hq/rooms/r1', { name: 'R'.repeat(201) }, 400],
        ['/api/v1/directory/sites/hq/rooms/r1', { name: 'Room\u0000' }, 400],
        ['/api/v1/directory/sites/hq/rooms/r1', { name: 'Room', extra: true }, 400],
        [`/api/v1/directory/customers/${'c'.repeat(65)}`, { name: 'Long id' }, 400],
      ];
      for (const [url, body, status] of cases) {
        const response = await admin.request('PUT', url, body);
        expect(response.statusCode, `${url} ${JSON.stringify(body)}: ${response.body}`).toBe(status);
        expect(response.json().message).toBeTruthy();
      }
      const rooms = await db.query("SELECT count(*)::int AS n FROM rooms WHERE id = 'r1'");
      expect(rooms.rows[0]).toEqual({ n: 0 });
    });
  });
});
