import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { until } from '../helpers/wait.js';

describe('workstation login check against presence, through the real gateway, broker and database', () => {
  let system: TestSystem;
  let token: string;
  let otherRoomToken: string;

  const check = (id: string, user: string, bearer: string | null = token) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${id}/login-check`,
      headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
      payload: { user },
    });

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    token = await registerWorkstation(system, 'ws-1.ident.example');
    otherRoomToken = await registerWorkstation(system, 'ws-2', 'ident-2');
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('denies a known agent who has not badged in', async () => {
    const response = await check('ws-1.ident.example', system.agent.person);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ allow: false, reason: 'not-present' });
  });

  it('denies a user who is no person in the directory, and shows no name for it', async () => {
    expect((await check('ws-1.ident.example', 'mallory')).json()).toEqual({
      allow: false,
      reason: 'unknown-user',
    });
    const last = system.dashboard.presence.view().find((w) => w.id === 'ws-1.ident.example')?.lastCheck;
    expect(last).toMatchObject({ allow: false, reason: 'unknown-user' });
    expect(last).not.toHaveProperty('user');
  });

  it('refuses a request without the token, with another workstation’s token, or for an unknown workstation', async () => {
    for (const response of [
      await check('ws-1.ident.example', system.agent.person, null),
      await check('ws-1.ident.example', system.agent.person, otherRoomToken),
      await check('ws-9', system.agent.person),
    ]) {
      expect(response.statusCode).toBe(401);
      expect(response.json().code).toBe('IDG_AUTH_WORKSTATION');
    }
  });

  it('audits each refused credential, why and whose token it was, without the token or the user', async () => {
    const rows = await system.dashboard.pool.query<{ actor: string; target: string | null; details: object }>(
      `SELECT actor, target, details FROM audit_log WHERE action = 'workstation.auth-refused' ORDER BY id`,
    );
    const route = '/api/v1/workstations/:id/login-check';
    expect(rows.rows).toEqual([
      {
        actor: 'anonymous',
        target: 'workstation:ws-1.ident.example',
        details: { reason: 'no-token', route },
      },
      {
        actor: 'anonymous',
        target: 'workstation:ws-1.ident.example',
        details: { reason: 'other-workstation-token', route, tokenOf: 'workstation:ws-2' },
      },
      {
        actor: 'anonymous',
        target: 'workstation:ws-9',
        details: { reason: 'unknown-workstation', route, tokenOf: 'workstation:ws-1.ident.example' },
      },
    ]);
    const written = JSON.stringify(rows.rows);
    expect(written).not.toContain(otherRoomToken);
    expect(written).not.toContain(token);
    expect(written).not.toContain(system.agent.person);
  });

  it('does not accept a staff session in place of the workstation token', async () => {
    const admin = await system.staff('admin');
    const response = await admin.request('POST', '/api/v1/workstations/ws-1.ident.example/login-check', {
      user: system.agent.person,
    });
    expect(response.statusCode).toBe(401);
  });

  it('rejects a malformed user name with a clear error', async () => {
    const response = await check('ws-1.ident.example', 'ada/../root');
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/user/);
  });

  it('allows the agent after badge-in, in that room only', async () => {
    await badgeIn(system);
    expect((await check('ws-1.ident.example', system.agent.person)).json()).toEqual({ allow: true });
    expect((await check('ws-2', system.agent.person, otherRoomToken)).json()).toEqual({
      allow: false,
      reason: 'other-room',
    });
  });

  it('denies the agent again after badge-out', async () => {
    await badgeOut(system);
    expect((await check('ws-1.ident.example', system.agent.person)).json()).toEqual({
      allow: false,
      reason: 'not-present',
    });
  });

  it('audits every answered check with the workstation, the user and the reason', async () => {
    const rows = await system.dashboard.pool.query<{
      actor: string;
      action: string;
      details: { user: string };
    }>(`SELECT actor, action, details FROM audit_log WHERE action LIKE 'workstation.login-%' ORDER BY id`);
    expect(rows.rows.map((r) => [r.actor, r.action, r.details])).toEqual([
      [
        'workstation:ws-1.ident.example',
        'workstation.login-denied',
        { user: 'agent-ada', reason: 'not-present' },
      ],
      // A name that is nobody's may be a password typed into the user field: not written.
      ['workstation:ws-1.ident.example', 'workstation.login-denied', { reason: 'unknown-user' }],
      ['workstation:ws-1.ident.example', 'workstation.login-allowed', { user: 'agent-ada' }],
      ['workstation:ws-2', 'workstation.login-denied', { user: 'agent-ada', reason: 'other-room' }],
      [
        'workstation:ws-1.ident.example',
        'workstation.login-denied',
        { user: 'agent-ada', reason: 'not-present' },
      ],
    ]);
  });

  it('rebuilds presence from the stored events after a restart of the presence state', async () => {
    await badgeIn(system, 1);
    system.dashboard.presence.stop();
    await system.dashboard.presence.start();
    expect((await check('ws-1.ident.example', system.agent.person)).json()).toEqual({ allow: true });
  });

  it('shows security staff each workstation with who is present in its room and its last check', async () => {
    const security = await system.staff('security');
    const response = await security.request('GET', '/api/v1/workstations');
    expect(response.statusCode, response.body).toBe(200);
    const [ws1, ws2] = response.json().workstations;
    expect(ws1).toMatchObject({
      id: 'ws-1.ident.example',
      room: 'ident-1',
      present: [{ person: system.agent.person }],
      lastCheck: { user: system.agent.person, allow: true },
    });
    expect(ws2).toMatchObject({
      id: 'ws-2',
      present: [],
      lastCheck: { user: system.agent.person, allow: false, reason: 'other-room' },
    });
    const auditor = await system.staff('auditor');
    expect((await auditor.request('GET', '/api/v1/workstations')).statusCode).toBe(403);
  });

  it('ends presence at once when an administrator revokes the badge, not at the next refresh', async () => {
    // Still inside since the previous test.
    expect((await check('ws-1.ident.example', system.agent.person)).json()).toEqual({ allow: true });
    const admin = await system.staff('admin');
    const revoked = await admin.request(
      'POST',
      `/api/v1/people/${system.agent.person}/badges/${system.agent.badge}/revoke`,
    );
    expect(revoked.statusCode).toBe(200);
    expect((await check('ws-1.ident.example', system.agent.person)).json()).toEqual({
      allow: false,
      reason: 'not-present',
    });
  });

  it('redacts the user in the workstation audit entries when the person is erased', async () => {
    await system.dashboard.retention.erasePerson(system.agent.person, {}, 'test');
    const rows = await system.dashboard.pool.query<{ user: string }>(
      `SELECT DISTINCT details ->> 'user' AS user FROM audit_log
        WHERE action LIKE 'workstation.login-%' AND details ? 'user'`,
    );
    expect(rows.rows.map((r) => r.user)).toEqual(['erased']);
  });

  it('takes a registration, and refuses the old token after registering again, without waiting for the refresh', async () => {
    const { workstations, presence } = system.dashboard;
    const first = await workstations.register({ id: 'ws-3', site: system.site, room: 'ident-1' });
    await until(() => presence.authenticate('ws-3', first), 'the registration to reach presence');
    const second = await workstations.register({ id: 'ws-3', site: system.site, room: 'ident-1' });
    await until(() => !presence.authenticate('ws-3', first), 'the old token to stop working');
    expect((await check('ws-3', 'nobody', first)).statusCode).toBe(401);
    expect((await check('ws-3', 'nobody', second)).statusCode).toBe(200);
  });
});
