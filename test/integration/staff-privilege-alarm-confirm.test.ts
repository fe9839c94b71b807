import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * The staff-privilege-granted alarm puts an administrator's taking of a security account in front
 * of security staff. The administrator who created such an account can keep its enrolment link,
 * set its password, enrol an authenticator and sign in as it: that account may then neither
 * confirm the alarm about itself nor, while that is open, any other privilege alarm (a second
 * taken account vouching for the first). Security staff whose accounts are settled confirm them.
 */
describe('the staff-privilege-granted alarm is confirmed by others than the accounts it concerns', () => {
  let system: TestSystem;
  let admin: StaffClient;
  /** Security staff who were there before: the ones to confirm. */
  let guard: StaffClient;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    guard = await system.staff('security');
  });

  afterAll(async () => {
    await system?.stop();
  });

  /** The administrator's side: a new account (security by default) and its enrolment link, kept. */
  const createWithLink = async (
    login: string,
    role: 'security' | 'auditor' = 'security',
    displayName = 'Night Guard',
  ): Promise<string> => {
    await admin.confirm();
    const created = await admin.request('POST', '/api/v1/staff', { login, displayName, role });
    expect(created.statusCode, created.body).toBe(201);
    return created.json().invitation.token;
  };

  /** Accepts the link, signs in and enrols an authenticator, as the account's holder would. */
  const takeOver = async (token: string, login: string) => {
    const app = system.dashboard.http;
    const password = 'borrowed lantern quietly 8812';
    const accepted = await app.inject({
      method: 'POST',
      url: '/api/v1/invitation',
      payload: { token, password },
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const signedIn = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login, password },
    });
    expect(signedIn.json().stage).toBe('enrol');
    const set = signedIn.cookies.find((c) => c.name === '__Host-identgate-session');
    const cookie = `${set?.name}=${set?.value}`;
    const csrf = (await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } })).json()
      .csrfToken as string;
    const request = (
      method: 'GET' | 'POST',
      url: string,
      payload?: object,
    ): Promise<LightMyRequestResponse> =>
      app.inject({
        method,
        url,
        headers: { cookie, 'x-csrf-token': csrf },
        ...(payload ? { payload } : {}),
      });
    const secret = (await request('POST', '/api/v1/auth/enrolment')).json().secret as string;
    const code = new TotpVerifier().generate(secret, system.clock.now());
    const confirmed = await request('POST', '/api/v1/auth/enrolment/confirm', { code });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    return request;
  };

  /** The privilege alarm about `login`, as security staff list it. */
  const alarmAbout = async (login: string): Promise<AlarmView> => {
    const listed = await guard.request('GET', '/api/v1/alarms?state=all&limit=500');
    const alarm = (listed.json().alarms as AlarmView[]).find(
      (a) =>
        a.alarm === 'staff-privilege-granted' && a.detail?.startsWith(`security account staff:${login}:`),
    );
    expect(alarm).toBeDefined();
    return alarm as AlarmView;
  };

  it('refuses the acknowledgement and resolution by that account, and the alarm stays active', async () => {
    const login = 'taken-guard';
    const link = await createWithLink(login);
    const asTaken = await takeOver(link, login);
    const { id } = await alarmAbout(login);

    const acknowledged = await asTaken('POST', `/api/v1/alarms/${id}/acknowledge`, { comment: 'all fine' });
    const resolved = await asTaken('POST', `/api/v1/alarms/${id}/resolve`, { comment: 'new colleague' });

    expect({
      acknowledged: [acknowledged.statusCode, acknowledged.json().code],
      resolved: [resolved.statusCode, resolved.json().code],
      state: (await system.dashboard.alarms.get(id))?.state,
    }).toEqual({
      acknowledged: [403, 'IDG_ALARM_OWN_ACCOUNT'],
      resolved: [403, 'IDG_ALARM_OWN_ACCOUNT'],
      state: 'active',
    });
  });

  it("lets no account whose own alarm is open confirm another's: two taken accounts cannot vouch for each other", async () => {
    const first = 'taken-first';
    const second = 'taken-second';
    const asFirst = await takeOver(await createWithLink(first), first);
    const asSecond = await takeOver(await createWithLink(second), second);
    const aboutFirst = await alarmAbout(first);
    const aboutSecond = await alarmAbout(second);
    const byFirst = await asFirst('POST', `/api/v1/alarms/${aboutSecond.id}/resolve`, { comment: 'ok' });
    const bySecond = await asSecond('POST', `/api/v1/alarms/${aboutFirst.id}/resolve`, { comment: 'ok' });
    expect([byFirst.statusCode, bySecond.statusCode]).toEqual([403, 403]);
    // Security staff who were there before confirm both.
    for (const { id } of [aboutFirst, aboutSecond]) {
      for (const step of ['acknowledge', 'resolve']) {
        const answer = await guard.request('POST', `/api/v1/alarms/${id}/${step}`, { comment: 'asked them' });
        expect(answer.statusCode, answer.body).toBe(200);
      }
    }
  });

  it('ends an enrolment link issued before a promotion to security, and says so in the alarm', async () => {
    const login = 'late-guard';
    const link = await createWithLink(login, 'auditor', 'Late Guard');
    expect((await admin.request('PATCH', `/api/v1/staff/${login}`, { role: 'security' })).statusCode).toBe(
      200,
    );
    expect((await alarmAbout(login)).detail).toContain(
      'role changed from auditor to security, its outstanding enrolment link ended',
    );
    const accepted = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/invitation',
      payload: { token: link, password: 'borrowed lantern quietly 8813' },
    });
    // The link no longer works: whoever held it has nothing.
    expect(accepted.statusCode).toBe(403);
    expect(accepted.body).toContain('unknown, used or expired');
  });
  // Last: it leaves the guard with an open alarm of its own.
  it('raises the alarm even when every other security account was disabled first', async () => {
    await admin.confirm();
    const disabled = await admin.request('PATCH', `/api/v1/staff/${guard.login}`, { disabled: true });
    expect(disabled.statusCode, disabled.body).toBe(200);
    const others = await system.dashboard.pool.query<{ login: string }>(
      `SELECT login FROM staff_accounts WHERE role = 'security' AND disabled_at IS NULL`,
    );
    for (const { login } of others.rows)
      expect((await admin.request('PATCH', `/api/v1/staff/${login}`, { disabled: true })).statusCode).toBe(
        200,
      );
    await createWithLink('quiet-guard');
    const raised = await system.dashboard.pool.query<{ detail: string }>(
      `SELECT detail FROM alarms WHERE alarm = 'staff-privilege-granted' AND detail LIKE $1`,
      ['security account staff:quiet-guard:%'],
    );
    expect(raised.rows.map((r) => r.detail)).toEqual([expect.stringContaining('created')]);
  });
});
