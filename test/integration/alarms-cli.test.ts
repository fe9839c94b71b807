import { userInfo } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runAlarmsCommand } from '../../src/cli/alarms-command.js';
import { UsageError } from '../../src/cli/cli-error.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/cli-config.js';
import { watchAlarms } from '../helpers/live-alarms.js';
import { refuseAuditOf } from '../helpers/refuse-inserts.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * `identgate alarms` settles alarms from the central host. Its reason to exist: when every
 * security account has an open privilege alarm of its own, no account may confirm another's
 * (403 IDG_ALARM_OWN_ACCOUNT), and without it those alarms could never be closed. The command is
 * audited as the operating-system user, in the transaction of the change, and the running
 * dashboard shows the change to its live clients at once.
 */
describe('identgate alarms list|acknowledge|resolve', () => {
  let system: TestSystem;
  let db: pg.Client;
  let configFile: string;
  let first: StaffClient;
  let second: StaffClient;
  const cliUser = `cli:${userInfo().username}`;
  const cli = (...args: string[]) => runCli(['alarms', ...args, '--config', configFile]);

  const privilegeAlarms = async (): Promise<Map<string, number>> => {
    const { rows } = await db.query<{ id: string; target: string }>(
      `SELECT a.id, l.target FROM alarms a
         JOIN audit_log l ON l.id = substring(a.key FROM '^staff-privilege-granted:([0-9]+)$')::bigint
        WHERE a.alarm = 'staff-privilege-granted' AND a.state <> 'resolved'`,
    );
    return new Map(rows.map((r) => [r.target, Number(r.id)]));
  };

  beforeAll(async () => {
    system = await startTestSystem();
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    configFile = dashboardConfigFile(system.databaseUrl);
    const admin = await system.staff('admin');
    // The first security account tells nobody; the second is announced to the first.
    first = await system.staff('security');
    second = await system.staff('security');
    await admin.confirm();
    const reset = await admin.request('PATCH', `/api/v1/staff/${first.login}`, { resetTotp: true });
    expect(reset.statusCode, reset.body).toBe(200);
    await first.signIn();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  it('settles the privilege alarms no security account may confirm, audited as the operating-system user', async () => {
    const open = await privilegeAlarms();
    const aboutFirst = open.get(`staff:${first.login}`) as number;
    const aboutSecond = open.get(`staff:${second.login}`) as number;
    expect([aboutFirst, aboutSecond].every(Number.isInteger)).toBe(true);
    // The deadlock: each account's own alarm is open, so neither confirms the other's.
    for (const [client, other] of [
      [first, aboutSecond],
      [second, aboutFirst],
    ] as const) {
      const refused = await client.request('POST', `/api/v1/alarms/${other}/acknowledge`, {
        comment: 'mine',
      });
      expect({ status: refused.statusCode, code: refused.json().code }).toEqual({
        status: 403,
        code: 'IDG_ALARM_OWN_ACCOUNT',
      });
    }

    const listed = await cli('list');
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(
        `^#${aboutFirst}  critical  active  staff-privilege-granted  central  raised \\S+  security account staff:${first.login}: authenticator reset by staff:`,
        'm',
      ),
    );
    expect(listed.stdout).toContain(`#${aboutSecond}  critical  active  staff-privilege-granted`);

    const { seen, stop: unsubscribe } = watchAlarms(system.dashboard.hub);
    try {
      for (const id of [aboutFirst, aboutSecond]) {
        const comment = `called both guards at home; they reset their own authenticators (#${id})`;
        const acknowledged = await cli('acknowledge', String(id), '--comment', comment);
        expect(acknowledged.code, acknowledged.stderr).toBe(0);
        expect(acknowledged.stdout).toMatch(
          new RegExp(`^acknowledged #${id}  critical  acknowledged by ${cliUser}  `),
        );
        const resolved = await cli('resolve', String(id), '--comment', comment);
        expect(resolved.code, resolved.stderr).toBe(0);
        expect(resolved.stdout).toMatch(new RegExp(`^resolved #${id}  critical  resolved by ${cliUser}  `));
      }
      // The running dashboard relays what the command changed to its live clients.
      await vi.waitFor(
        () =>
          expect(
            seen
              .filter((a) => a.state === 'resolved')
              .map((a) => a.id)
              .sort(),
          ).toEqual([aboutFirst, aboutSecond].sort()),
        { timeout: 20_000, interval: 50 },
      );
    } finally {
      unsubscribe();
    }

    expect(await privilegeAlarms()).toEqual(new Map());
    const { rows } = await db.query(
      `SELECT actor, action, target, details->>'comment' AS comment FROM audit_log
        WHERE action LIKE 'alarm.%' AND target = ANY($1) ORDER BY id`,
      [[`alarm:${aboutFirst}`, `alarm:${aboutSecond}`]],
    );
    expect(rows.map((r) => `${r.actor} ${r.action} ${r.target}`)).toEqual([
      `${cliUser} alarm.acknowledge alarm:${aboutFirst}`,
      `${cliUser} alarm.resolve alarm:${aboutFirst}`,
      `${cliUser} alarm.acknowledge alarm:${aboutSecond}`,
      `${cliUser} alarm.resolve alarm:${aboutSecond}`,
    ]);
  });

  it('changes no alarm whose audit entry cannot be written', async () => {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO alarms (source, alarm, key, severity, detail, state)
       VALUES ('central', 'duress', 'test-cli-audit-refused', 'critical', 'test', 'active')
       RETURNING id`,
    );
    const id = String(rows[0]?.id);
    const restore = await refuseAuditOf(db, 'alarm.acknowledge');
    try {
      const refused = await cli('acknowledge', id, '--comment', 'checked');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /nothing was changed: the audit entry \(alarm\.acknowledge\) could not be written \[IDG_AUDIT_UNAVAILABLE\]/,
      );
    } finally {
      await restore();
    }
    const { rows: after } = await db.query('SELECT state, acknowledged_by FROM alarms WHERE id = $1', [id]);
    expect(after).toEqual([{ state: 'active', acknowledged_by: null }]);
  });

  it('refuses what the workflow refuses, and bad calls, with the reason', async () => {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO alarms (source, site, alarm, key, severity, detail, state)
       VALUES ('central', $1, 'gateway-offline', 'test-cli-still-holds', 'critical', 'test', 'active')
       RETURNING id`,
      [system.site],
    );
    const id = String(rows[0]?.id);
    const early = await cli('resolve', id, '--comment', 'done');
    expect({ code: early.code, stderr: early.stderr }).toEqual({
      code: 1,
      stderr: `identgate: alarm ${id} is not acknowledged yet; acknowledge it first [IDG_ALARM_STATE]\n`,
    });
    expect((await cli('acknowledge', id, '--comment', 'looking')).code).toBe(0);
    const holds = await cli('resolve', id, '--comment', 'done');
    expect(holds).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/still holds; resolve it once it has cleared \[IDG_ALARM_STATE\]/),
    });
    expect(await cli('acknowledge', '999999999', '--comment', 'x')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no alarm 999999999 [IDG_ALARM_NOT_FOUND]'),
    });
    expect(await cli('acknowledge', id)).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('identgate alarms acknowledge needs --comment <text>'),
    });
    // The same checks in this process: each refused before the database is opened.
    for (const [args, comment] of [
      [['acknowledge', id], '   '],
      [['acknowledge', id], 'two\nlines'],
      [['acknowledge', id], 'reordered \u202e text'],
      [['acknowledge', id], 'x'.repeat(501)],
      [['acknowledge', '12abc'], 'x'],
      [['acknowledge', '-1'], 'x'],
      [['acknowledge', '0'], 'x'],
      // Beyond 2^53 − 1 a number would round to another alarm's id.
      [['acknowledge', '9007199254740993'], 'x'],
      [['silence', id], 'x'],
      [['list', 'extra'], undefined],
      [['acknowledge', id, 'extra'], 'x'],
    ] as const) {
      await expect(
        runAlarmsCommand([...args], { config: configFile, ...(comment === undefined ? {} : { comment }) }),
        JSON.stringify(args),
      ).rejects.toBeInstanceOf(UsageError);
    }
    // A flag the verb does not take is refused, not ignored.
    await expect(runAlarmsCommand(['list'], { config: configFile, comment: 'x' })).rejects.toBeInstanceOf(
      UsageError,
    );
    await expect(
      runAlarmsCommand(['acknowledge', id], { config: configFile, comment: 'x', all: true }),
    ).rejects.toBeInstanceOf(UsageError);
    const { rows: after } = await db.query('SELECT state FROM alarms WHERE id = $1', [id]);
    expect(after).toEqual([{ state: 'acknowledged' }]);
    const all = await cli('list', '--all');
    expect(all.stdout).toContain(
      `#${id}  critical  acknowledged by ${cliUser}  gateway-offline  ${system.site}`,
    );
  });

  it("lists a gateway's alarm detail as one line, whatever it holds", async () => {
    // A gateway's detail is any string up to 500 characters: a compromised one could try to make
    // a listed alarm look settled, or another alarm look open, to the operator choosing what to settle.
    const forged = 'x\n#1  info  resolved by staff:alice  staff-privilege-granted\u001b[2K\u202e';
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO alarms (source, site, gateway, alarm, key, severity, detail, state)
       VALUES ('gateway', $1, 'gw-forger', 'internal-error', 'test-cli-forged', 'warning', $2, 'active')
       RETURNING id`,
      [system.site, forged],
    );
    const lines = await runAlarmsCommand(['list'], { config: configFile });
    const line = lines.find((l) => l.startsWith(`#${rows[0]?.id}  `));
    expect(line).toBe(
      `#${rows[0]?.id}  warning  active  internal-error  ${system.site}/gw-forger  raised ${line?.split('  ')[5]?.slice(7)}  x\\u000a#1  info  resolved by staff:alice  staff-privilege-granted\\u001b[2K\\u202e`,
    );
    expect(lines.every((l) => !['\n', '\r', '\u001b', '\u202e'].some((c) => l.includes(c)))).toBe(true);
  });
});
