import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseAuditOf } from '../helpers/refuse-inserts.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * A new staff account and its enrolment link, or a new link for an existing account, are one
 * change: when the link's entry cannot be written, the 503 IDG_AUDIT_UNAVAILABLE ("nothing was
 * changed") is true — no account without its link, no password replaced or sessions ended
 * without one. Against the real dashboard and PostgreSQL; the entry of the link is refused by a
 * trigger, as in dashboard-audited-changes.test.ts.
 */
describe('staff enrolment links: a 503 that says nothing changed leaves nothing changed', () => {
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

  const rows = async (sql: string, values: unknown[] = []) => (await db.query(sql, values)).rows;

  /** Runs `act` while audit entries of `action` are refused; answers its response. */
  const whileRefused = async (action: string, act: () => Promise<LightMyRequestResponse>) => {
    const restore = await refuseAuditOf(db, action);
    try {
      return await act();
    } finally {
      await restore();
    }
  };

  const signsInWith = async (client: StaffClient) =>
    (
      await client.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { login: client.login, password: client.password },
      })
    ).statusCode;

  const answer = (response: LightMyRequestResponse) => ({
    status: response.statusCode,
    code: response.json().code,
    message: response.json().message,
  });

  it('creates no account when the entry of its enrolment link (staff.invitation-issued) cannot be written', async () => {
    await admin.confirm();
    const response = await whileRefused('staff.invitation-issued', () =>
      admin.request('POST', '/api/v1/staff', {
        login: 'rv-never-invited',
        displayName: 'Never',
        role: 'security',
      }),
    );
    expect(answer(response)).toMatchObject({
      status: 503,
      code: 'IDG_AUDIT_UNAVAILABLE',
      message: expect.stringContaining('nothing was changed'),
    });
    expect(await rows('SELECT login FROM staff_accounts WHERE login = $1', ['rv-never-invited'])).toEqual([]);
  });

  it("keeps an account's password and sessions when its new link (staff.invitation-issued) cannot be audited", async () => {
    const security = await system.staff('security');
    await admin.confirm();
    const response = await whileRefused('staff.invitation-issued', () =>
      admin.request('POST', `/api/v1/staff/${security.login}/invitation`),
    );
    expect(answer(response)).toMatchObject({ status: 503, code: 'IDG_AUDIT_UNAVAILABLE' });
    expect({
      session: (await security.request('GET', '/api/v1/alarms')).statusCode,
      password: await signsInWith(security),
    }).toEqual({ session: 200, password: 200 });
  });

  // Last: it leaves the file's administrator without a working password if the defect is there.
  it('does not lock the last administrator out when the entry of their own new link cannot be written', async () => {
    expect(
      await rows(`SELECT login FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL`),
    ).toEqual([{ login: admin.login }]);
    await admin.confirm();
    const response = await whileRefused('staff.invitation-issued', () =>
      admin.request('POST', `/api/v1/staff/${admin.login}/invitation`),
    );
    expect(answer(response)).toMatchObject({ status: 503, code: 'IDG_AUDIT_UNAVAILABLE' });
    // No link was shown: the administrator must still get in with what they had.
    expect({
      session: (await admin.request('GET', '/api/v1/staff')).statusCode,
      password: await signsInWith(admin),
    }).toEqual({ session: 200, password: 200 });
  });
});
