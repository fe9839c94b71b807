import { userInfo } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAlarmsCommand } from '../../src/cli/alarms-command.js';
import { UsageError } from '../../src/cli/cli-error.js';
import { runUserCommand } from '../../src/cli/user-command.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/cli-config.js';
import { watchAlarms } from '../helpers/live-alarms.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * `identgate user` manages staff accounts from the central host. Its first reason to exist: an
 * installation whose only administrator lost the authenticator (or the password) had no way back
 * but editing the database. Its changes follow the Staff page's rules, are audited as the
 * operating-system user in their own transaction, and raise the privilege alarm where they could
 * hand a door-opening or administering account to someone.
 */
describe('identgate user list|add|reset|disable|enable', () => {
  let system: TestSystem;
  let db: pg.Client;
  let configFile: string;
  let admin: StaffClient;
  let guard: StaffClient;
  const cliUser = `cli:${userInfo().username}`;
  const cli = (...args: string[]) => runCli(['user', ...args, '--config', configFile]);
  const linkIn = (stdout: string): string => {
    const token = /\/#invite=([A-Za-z0-9_-]{20,64})$/m.exec(stdout)?.[1];
    if (!token) throw new Error(`no enrolment link in:\n${stdout}`);
    return token;
  };

  beforeAll(async () => {
    system = await startTestSystem();
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    configFile = dashboardConfigFile(system.databaseUrl);
    admin = await system.staff('admin');
    guard = await system.staff('security');
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  it('lets the only administrator, who lost the authenticator, back in through a new link', async () => {
    const listed = await cli('list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`${admin.login}  admin  enabled  authenticator enrolled  `);
    expect(listed.stdout).toContain(`${guard.login}  security  enabled  authenticator enrolled  `);

    const { seen, stop: unsubscribe } = watchAlarms(system.dashboard.hub);
    const before = Number((await db.query('SELECT max(id) AS id FROM audit_log')).rows[0]?.id);
    let reset: Awaited<ReturnType<typeof cli>>;
    try {
      reset = await cli('reset', admin.login, '--url', 'https://dashboard.example:8443');
      expect(reset.code, reset.stderr).toBe(0);
      // The running dashboard shows the alarm the reset raised.
      await vi.waitFor(() => expect(seen.map((a) => a.alarm)).toContain('staff-privilege-granted'), {
        timeout: 20_000,
        interval: 50,
      });
    } finally {
      unsubscribe();
    }
    expect(reset.stdout).toMatch(/^reset .*: the old password no longer works, the authenticator is reset/);
    expect(reset.stdout).toMatch(/^ {2}https:\/\/dashboard\.example:8443\/#invite=/m);
    expect(reset.stdout).toContain('raised a staff-privilege-granted alarm for security staff to confirm');
    expect(seen.find((a) => a.alarm === 'staff-privilege-granted')?.detail).toMatch(
      new RegExp(
        `^admin account staff:${admin.login}: password reset, authenticator reset, enrolment link issued by ${cliUser} \\(audit entry \\d+\\)$`,
      ),
    );
    const { rows } = await db.query<{ actor: string; action: string }>(
      'SELECT actor, action FROM audit_log WHERE id > $1 AND target = $2 ORDER BY id',
      [before, `staff:${admin.login}`],
    );
    expect(rows).toEqual(
      ['staff.password-reset', 'staff.totp-reset', 'staff.sessions-ended', 'staff.invitation-issued'].map(
        (action) => ({ actor: cliUser, action }),
      ),
    );
    // Whoever reset the account from the command line does not close the alarm telling of it.
    const alarmId = seen.find((a) => a.alarm === 'staff-privilege-granted')?.id as number;
    await expect(
      runAlarmsCommand(['acknowledge', String(alarmId)], { config: configFile, comment: 'it was me' }),
    ).rejects.toMatchObject({ code: 'IDG_ALARM_OWN_CHANGE' });
    // The old session and the old password are gone.
    expect((await admin.request('GET', '/api/v1/session')).json().authenticated).toBe(false);
    const app = system.dashboard.http;
    const old = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: admin.login, password: admin.password },
    });
    expect(old.statusCode).toBe(401);
    // The owner chooses a password through the link and enrols a new authenticator.
    const password = 'window lantern morning 4417';
    const accepted = await app.inject({
      method: 'POST',
      url: '/api/v1/invitation',
      payload: { token: linkIn(reset.stdout), password },
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    const signedIn = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: admin.login, password },
    });
    expect({ status: signedIn.statusCode, stage: signedIn.json().stage }).toEqual({
      status: 200,
      stage: 'enrol',
    });
  });

  it('creates an account with a link, refuses a login in use, and keeps the last administrator', async () => {
    const added = await cli('add', 'Night.Guard', '--name', 'Night Guard', '--role', 'security');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/^created security account night.guard \(Night Guard\)$/m);
    linkIn(added.stdout);
    const { rows } = await db.query(
      `SELECT actor, action FROM audit_log WHERE target = 'staff:night.guard' ORDER BY id`,
    );
    expect(rows).toEqual([
      { actor: cliUser, action: 'staff.created' },
      { actor: cliUser, action: 'staff.invitation-issued' },
    ]);
    expect((await cli('list')).stdout).toContain(
      'night.guard  security  enabled  enrolment link outstanding  "Night Guard"',
    );

    // The rest in this process: the same code without a process's start-up each time.
    const user = (...args: string[]) => runUserCommand(args, { config: configFile });
    await expect(
      runUserCommand(['add', 'night.guard'], { config: configFile, name: 'Another', role: 'auditor' }),
    ).rejects.toMatchObject({ code: 'IDG_AUTH_CONFLICT' });

    // The administrator whose link is still unused is the only enabled one: it stays enabled.
    const last = await cli('disable', admin.login);
    expect({ code: last.code, stderr: last.stderr }).toEqual({
      code: 1,
      stderr:
        'identgate: this is the last enabled administrator; make another one first [IDG_AUTH_CONFLICT]\n',
    });
    expect(await user('disable', 'night.guard')).toEqual([
      'disabled night.guard: its sessions ended, it cannot sign in',
    ]);
    // Re-enabling a security account hands it back to whoever holds it: announced.
    expect(await user('enable', 'night.guard')).toEqual([
      'enabled night.guard with the password and authenticator it had (identgate user reset for new ones)',
      'raised a staff-privilege-granted alarm for security staff to confirm',
    ]);
    // Asked again, it changes nothing: the guard's session stays.
    expect(await user('enable', guard.login)).toEqual([`${guard.login} is enabled already; nothing changed`]);
    expect((await guard.request('GET', '/api/v1/session')).json().authenticated).toBe(true);
    // A disabled account is reset only together with its enabling: enabled first, its old
    // password would sign in until the reset.
    expect(await user('disable', guard.login)).toHaveLength(1);
    await expect(user('reset', guard.login)).rejects.toThrow(/is disabled: add --enable/);
    const enabled = await runUserCommand(['reset', guard.login], { config: configFile, enable: true });
    expect(enabled[0]).toBe(
      `reset ${guard.login} and enabled it: the old password no longer works, the authenticator is reset and the sessions ended`,
    );
    expect(enabled[1]).toMatch(
      /^enrolment link \(works once, until \S+\); give it to the account's owner only:$/,
    );
    expect(enabled[2]).toMatch(/^ {2}<the address staff open the dashboard at>\/#invite=[A-Za-z0-9_-]{32}$/);
    const old = await system.dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: guard.login, password: guard.password },
    });
    expect(old.statusCode).toBe(401);
    await expect(user('reset', 'nobody-here')).rejects.toMatchObject({
      code: 'IDG_NOT_FOUND',
      message: 'no staff account "nobody-here"',
    });
  });

  it('refuses bad calls before it opens the database', async () => {
    expect(await cli('add', 'someone', '--role', 'security')).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('identgate user add needs --name <display name>'),
    });
    for (const [args, flags] of [
      [['add', 'someone'], { name: 'Some One' }],
      [['add', 'someone'], { name: 'Some One', role: 'root' }],
      [['add', 'someone'], { name: 'two\nlines', role: 'auditor' }],
      [['add', 'someone'], { name: 'x'.repeat(121), role: 'auditor' }],
      [['add', '../etc'], { name: 'Path', role: 'auditor' }],
      [['reset'], {}],
      [['promote', 'someone'], {}],
      [['list', 'extra'], {}],
      [['disable', 'a', 'b'], {}],
      [['enable', 'someone'], { role: 'admin' }],
      [['disable', 'someone'], { name: 'Some One' }],
      [['list'], { url: 'https://dashboard.example' }],
      [['add', 'someone'], { name: 'Some One', role: 'auditor', enable: true }],
      [['reset', 'someone'], { url: 'dashboard.example' }],
      [['reset', 'someone'], { url: 'ftp://dashboard.example' }],
      [['reset', 'someone'], { url: 'https://dashboard.example/admin' }],
      [['reset', 'someone'], { url: 'https://user:pw@dashboard.example' }],
    ] as const) {
      await expect(
        runUserCommand([...args], { config: configFile, ...flags }),
        JSON.stringify(args),
      ).rejects.toBeInstanceOf(UsageError);
    }
  });
});
