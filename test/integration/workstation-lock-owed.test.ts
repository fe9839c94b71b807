import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgOwedLockStore } from '../../src/dashboard/storage/owed-lock-store.js';
import { importPublicKey } from '../../src/protocol/signing.js';
import {
  checkLockCommand,
  type WorkstationCommand,
  workstationCommandTopic,
} from '../../src/protocol/workstation-commands.js';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { until } from '../helpers/wait.js';

const WS = 'ws-owed.ident';

/**
 * Lock on leave when the workstation does not answer: the lock stays owed in the database, is
 * sent again with a new command (the wait doubling), raises a critical alarm after
 * `lockAttempts` unanswered sends or a failed lock, is settled by an `ok` for any of its
 * commands, and is given up after `lockRetryHours`. No agent runs here: the test answers for it.
 */
describe('owed locks: sent again until the workstation confirms, with an alarm when it does not', () => {
  let system: TestSystem;
  let token: string;
  let subscriber: MqttClient;
  const received: WorkstationCommand[] = [];
  const unverified: string[] = [];
  let step = 0;

  const lockResult = (command: string, status: 'ok' | 'failed') =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/lock-result`,
      headers: { authorization: `Bearer ${token}` },
      payload: { command, status, ...(status === 'failed' ? { reason: 'loginctl: exit 1' } : {}) },
    });
  const owed = () => system.dashboard.locker.owedLocks();
  const openAlarms = async () =>
    (
      await system.dashboard.pool.query<{ alarm: string; severity: string; detail: string }>(
        `SELECT alarm, severity, detail FROM alarms WHERE key = $1 AND cleared_at IS NULL`,
        [`workstation-lock-failed:${WS}`],
      )
    ).rows;
  const nextCommand = async (count: number) => {
    await until(() => received.length >= count, 'the lock command at the broker');
    return received[count - 1] as WorkstationCommand;
  };

  /** The test agent badges in, is allowed at the workstation, and badges out: a lock is owed. */
  async function leave(): Promise<WorkstationCommand> {
    const before = received.length;
    await badgeIn(system, step++);
    const check = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/login-check`,
      headers: { authorization: `Bearer ${token}` },
      payload: { user: system.agent.person },
    });
    expect(check.json()).toEqual({ allow: true });
    await badgeOut(system);
    return nextCommand(before + 1);
  }

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    token = await registerWorkstation(system, WS);
    const centralKey = importPublicKey(system.centralPublicKey);
    subscriber = await connectAsync(mqttUrl());
    subscriber.on('message', (_topic, payload) => {
      const checked = checkLockCommand(
        payload,
        centralKey,
        { site: system.site, workstation: WS },
        system.clock.now(),
      );
      if (checked.ok) received.push(checked.command);
      else unverified.push(checked.reason);
    });
    await subscriber.subscribeAsync(workstationCommandTopic(system.site, WS), { qos: 1 });
  });

  afterAll(async () => {
    // Every lock central sent verified with its public key and was addressed to this workstation.
    expect(unverified).toEqual([]);
    await subscriber?.endAsync();
    await system?.stop();
  });

  it('sends an unconfirmed lock again with a new command, alarms after three sends, and clears on ok', async () => {
    const first = await leave();
    expect(first.data).toEqual({ user: system.agent.person, reason: 'exit' });
    expect(await owed()).toMatchObject([{ workstation: WS, attempts: 1, command: first.id, alarmed: false }]);

    // Not due yet: nothing is sent again.
    await system.dashboard.locker.resendDue();
    expect(received).toHaveLength(1);

    const waits = [20_000, 40_000, 80_000];
    for (const [index, wait] of waits.entries()) {
      system.clock.advance(wait + 1000);
      await system.dashboard.locker.resendDue();
      const again = await nextCommand(index + 2);
      expect(again.id).not.toBe(received[index]?.id);
      expect(again.data).toEqual(first.data);
      expect(await openAlarms()).toHaveLength(index === 2 ? 1 : 0);
    }
    expect(await owed()).toMatchObject([{ attempts: 4, alarmed: true }]);
    expect((await openAlarms())[0]).toMatchObject({ severity: 'critical' });
    expect((await openAlarms())[0]?.detail).toMatch(/did not confirm its lock \(exit\) after 3 sends/);
    const sent = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-sent' ORDER BY id`,
    );
    expect(sent.rows.map((r) => r.details.command)).toEqual(received.map((c) => c.id));
    expect(sent.rows[3]?.details).toMatchObject({ attempt: 4, lock: first.id });

    // The agent was away; back, it confirms the first command it got: that settles the lock.
    expect((await lockResult(first.id, 'ok')).statusCode).toBe(200);
    expect(await owed()).toEqual([]);
    expect(await openAlarms()).toEqual([]);
  });

  it('raises the alarm at once when the lock program failed, and keeps the lock owed until an ok', async () => {
    const command = await leave();
    // Sent again before the agent answered: its failure is reported for the first command.
    system.clock.advance(21_000);
    await system.dashboard.locker.resendDue();
    expect(await owed()).toMatchObject([{ attempts: 2, alarmed: false }]);
    expect((await lockResult(command.id, 'failed')).statusCode).toBe(200);
    expect(await openAlarms()).toMatchObject([{ severity: 'critical' }]);
    expect(await owed()).toMatchObject([{ attempts: 2, alarmed: true }]);
    // A result for a command central never sent settles nothing.
    expect((await lockResult('01900000-0000-7000-8000-00000000abcd', 'ok')).statusCode).toBe(200);
    expect(await owed()).toHaveLength(1);
    expect((await lockResult(command.id, 'ok')).statusCode).toBe(200);
    expect(await owed()).toEqual([]);
    expect(await openAlarms()).toEqual([]);
  });

  it('keeps the alarm open when another lock of the workstation fails while an ok settles the alarmed one', async () => {
    const workstation = system.dashboard.presence.workstation(WS);
    if (!workstation) throw new Error('workstation not known');
    const firstId = await system.dashboard.locker.lock(workstation, system.agent.person, 'exit');
    if (!firstId) throw new Error('the first lock was not sent');
    const first = { id: firstId };
    expect((await lockResult(first.id, 'failed')).statusCode).toBe(200);
    expect(await openAlarms()).toHaveLength(1);
    const second = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    if (!second) throw new Error('the second lock was not sent');
    // The second lock's failure comes in between the settling of the first and the alarm's
    // decision: it waits for the workstation's row, and decides on what the first left.
    const store = (system.dashboard.locker as unknown as { options: { owed: PgOwedLockStore } }).options.owed;
    const settle = store.settle.bind(store);
    let failed: Promise<{ statusCode: number }> | undefined;
    store.settle = async (ws, command, db) => {
      const settled = await settle(ws, command, db);
      failed = lockResult(second, 'failed');
      return settled;
    };
    try {
      expect((await lockResult(first.id, 'ok')).statusCode).toBe(200);
    } finally {
      store.settle = settle;
    }
    expect((await failed)?.statusCode).toBe(200);
    expect(await owed()).toMatchObject([{ command: second, alarmed: true }]);
    expect(await openAlarms()).toHaveLength(1);
    expect((await lockResult(second, 'ok')).statusCode).toBe(200);
    expect(await owed()).toEqual([]);
    expect(await openAlarms()).toEqual([]);
  });

  it('raises nothing for a lock whose ok came in after it was claimed for another send', async () => {
    const workstation = system.dashboard.presence.workstation(WS);
    if (!workstation) throw new Error('workstation not known');
    const first = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    if (!first) throw new Error('the lock was not sent');
    for (const wait of [20_000, 40_000]) {
      system.clock.advance(wait + 1000);
      await system.dashboard.locker.resendDue();
    }
    // The fourth send is claimed; the agent's ok for the first command arrives before its alarm.
    const store = (system.dashboard.locker as unknown as { options: { owed: PgOwedLockStore } }).options.owed;
    const claimDue = store.claimDue.bind(store);
    store.claimDue = async (...args) => {
      const claimed = await claimDue(...args);
      expect((await lockResult(first, 'ok')).statusCode).toBe(200);
      return claimed;
    };
    try {
      system.clock.advance(81_000);
      await system.dashboard.locker.resendDue();
    } finally {
      store.claimDue = claimDue;
    }
    expect(await owed()).toEqual([]);
    expect(await openAlarms()).toEqual([]);
  });

  it('leaves nothing marked when raising the alarm fails: the agent sends its result again, and it alarms then', async () => {
    const workstation = system.dashboard.presence.workstation(WS);
    if (!workstation) throw new Error('workstation not known');
    const sent = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    if (!sent) throw new Error('the lock was not sent');
    const alarms = system.dashboard.alarms;
    const raise = alarms.raiseCentralUnlessOpen.bind(alarms);
    alarms.raiseCentralUnlessOpen = async () => {
      alarms.raiseCentralUnlessOpen = raise;
      throw new Error('connection to the database lost');
    };
    expect((await lockResult(sent, 'failed')).statusCode).toBe(500);
    expect(await owed()).toMatchObject([{ command: sent, alarmed: false }]);
    expect(await openAlarms()).toEqual([]);
    expect((await lockResult(sent, 'failed')).statusCode).toBe(200);
    expect(await owed()).toMatchObject([{ command: sent, alarmed: true }]);
    expect(await openAlarms()).toHaveLength(1);
    expect((await lockResult(sent, 'ok')).statusCode).toBe(200);
    expect(await openAlarms()).toEqual([]);
  });

  it('clears the alarm of a workstation moved to another site meanwhile', async () => {
    const moving = 'ws-moving.ident';
    const movingToken = await registerWorkstation(system, moving);
    const row = system.dashboard.presence.workstation(moving);
    if (!row) throw new Error('workstation not known');
    const sent = await system.dashboard.locker.lock(row, 'erased', 'badge-revoked');
    if (!sent) throw new Error('the lock was not sent');
    const result = (status: 'ok' | 'failed') =>
      system.dashboard.http.inject({
        method: 'POST',
        url: `/api/v1/workstations/${moving}/lock-result`,
        headers: { authorization: `Bearer ${movingToken}` },
        payload: { command: sent, status },
      });
    expect((await result('failed')).statusCode).toBe(200);
    const open = async () =>
      (
        await system.dashboard.pool.query<{ site: string }>(
          `SELECT site FROM alarms WHERE key = $1 AND cleared_at IS NULL`,
          [`workstation-lock-failed:${moving}`],
        )
      ).rows;
    expect(await open()).toEqual([{ site: system.site }]);
    const other = `${system.site}-b`;
    await system.dashboard.pool.query(`INSERT INTO sites (id, name) VALUES ($1, 'b')`, [other]);
    await system.dashboard.pool.query(`INSERT INTO rooms (site, id, name) VALUES ($1, 'r', 'r')`, [other]);
    const newToken = await system.dashboard.workstations.register({ id: moving, site: other, room: 'r' });
    await system.dashboard.presence.refresh();
    const confirmed = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${moving}/lock-result`,
      headers: { authorization: `Bearer ${newToken}` },
      payload: { command: sent, status: 'ok' },
    });
    expect(confirmed.statusCode).toBe(200);
    expect(await open()).toEqual([]);
  });

  it('refuses a malformed command id in a result without touching the owed locks', async () => {
    const reply = await lockResult('not-a-uuid-----------------------------', 'ok');
    expect(reply.statusCode).toBe(400);
    const dashes = await lockResult('------------------------------------', 'ok');
    expect(dashes.statusCode).toBe(200);
  });

  it("watches the lock agent's heartbeat: quiet too long is a warning, the next report clears it", async () => {
    const other = 'ws-other.ident';
    await registerWorkstation(system, other);
    const heartbeat = (bearer: string) =>
      system.dashboard.http.inject({
        method: 'POST',
        url: `/api/v1/workstations/${WS}/agent-heartbeat`,
        headers: { authorization: `Bearer ${bearer}` },
        payload: {},
      });
    expect((await heartbeat('not-the-token')).statusCode).toBe(401);
    expect((await heartbeat(token)).json()).toEqual({ recorded: true });
    const agentAlarms = async () =>
      (
        await system.dashboard.pool.query<{ key: string; severity: string; cleared: boolean }>(
          `SELECT key, severity, cleared_at IS NOT NULL AS cleared FROM alarms
            WHERE alarm = 'workstation-agent-offline' ORDER BY id`,
        )
      ).rows;
    await system.dashboard.agents.check();
    expect(await agentAlarms()).toEqual([]);

    // Security staff see when each agent last reported, and what it owes.
    const security = await system.staff('security');
    const view = await security.request('GET', '/api/v1/workstations');
    const listed = (view.json() as { workstations: Array<Record<string, unknown>> }).workstations;
    expect(listed.find((w) => w.id === WS)).toMatchObject({ agentSeenAt: expect.any(String), owedLocks: 0 });
    expect(listed.find((w) => w.id === other)).toMatchObject({ owedLocks: 0 });
    expect(listed.find((w) => w.id === other)).not.toHaveProperty('agentSeenAt');

    // Five minutes without a report (by the database's clock, which every instance shares): a
    // warning, once however often it is checked; the other workstation, whose agent never
    // reported, is not watched.
    const quiet = (seconds: number) =>
      system.dashboard.pool.query(
        `UPDATE workstations SET agent_seen_at = agent_seen_at - $2 * interval '1 second' WHERE id = $1`,
        [WS, seconds],
      );
    await quiet(301);
    await system.dashboard.agents.check();
    await system.dashboard.agents.check();
    expect(await agentAlarms()).toEqual([
      { key: `workstation-agent-offline:${WS}`, severity: 'warning', cleared: false },
    ]);
    expect((await heartbeat(token)).json()).toEqual({ recorded: true });
    expect(await agentAlarms()).toEqual([
      { key: `workstation-agent-offline:${WS}`, severity: 'warning', cleared: true },
    ]);

    // The workstation shuts down with a lock owed and alarmed: the shutdown ended its sessions,
    // so the lock is settled and the alarm cleared; its silence while it is off alarms nobody.
    const workstation = system.dashboard.presence.workstation(WS);
    if (!workstation) throw new Error('workstation not known');
    const owedLock = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    if (!owedLock) throw new Error('the lock was not sent');
    expect((await lockResult(owedLock, 'failed')).statusCode).toBe(200);
    expect(await openAlarms()).toHaveLength(1);
    const shutdown = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/agent-heartbeat`,
      headers: { authorization: `Bearer ${token}` },
      payload: { state: 'shutdown' },
    });
    expect(shutdown.json()).toEqual({ recorded: true });
    expect(await owed()).toEqual([]);
    expect(await openAlarms()).toEqual([]);
    const ends = async () =>
      (
        await system.dashboard.pool.query<{ action: string; details: Record<string, unknown> }>(
          `SELECT action, details FROM audit_log WHERE action IN ('workstation.agent-shutdown', 'workstation.agent-back') ORDER BY id`,
        )
      ).rows;
    expect(await ends()).toEqual([
      { action: 'workstation.agent-shutdown', details: { settledLocks: [owedLock] } },
    ]);
    await quiet(600);
    await system.dashboard.agents.check();
    expect((await agentAlarms()).filter((a) => !a.cleared)).toEqual([]);
    const shown = await security.request('GET', '/api/v1/workstations');
    const off = (shown.json() as { workstations: Array<Record<string, unknown>> }).workstations;
    expect(off.find((w) => w.id === WS)).toMatchObject({ shutDownAt: expect.any(String), owedLocks: 0 });
    // While it is off no lock is sent; back, they are.
    const sentBefore = received.length;
    expect(await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked')).toBeUndefined();
    expect((await heartbeat(token)).json()).toEqual({ recorded: true });
    const sent = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    expect(await nextCommand(sentBefore + 1)).toMatchObject({ id: sent });
    expect((await lockResult(sent as string, 'ok')).statusCode).toBe(200);
    expect((await ends()).at(-1)).toMatchObject({
      action: 'workstation.agent-back',
      details: { by: 'heartbeat' },
    });

    // Shut down again, but someone is let in there while its agent stays silent (the broker is
    // away, say): the workstation runs, so the shutdown ends, locks are owed again, and its
    // agent's silence is watched from then on.
    const again = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/agent-heartbeat`,
      headers: { authorization: `Bearer ${token}` },
      payload: { state: 'shutdown' },
    });
    expect(again.json()).toEqual({ recorded: true });
    await system.dashboard.agents.loginChecked(WS);
    expect((await ends()).at(-1)).toMatchObject({
      action: 'workstation.agent-back',
      details: { by: 'login-check' },
    });
    const owedAgain = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    expect(owedAgain).toBeDefined();
    expect(await owed()).toMatchObject([{ command: owedAgain }]);
    await quiet(301);
    await system.dashboard.agents.check();
    expect((await agentAlarms()).filter((a) => !a.cleared)).toHaveLength(1);
    expect((await heartbeat(token)).json()).toEqual({ recorded: true });
    expect((await lockResult(owedAgain as string, 'ok')).statusCode).toBe(200);
  });

  it('gives up a lock owed longer than lockRetryHours: audited, an incident that a later confirmed lock does not end', async () => {
    // Owed as a leave makes it (the badge-ins above used the codes this test could type).
    const workstation = system.dashboard.presence.workstation(WS);
    if (!workstation) throw new Error('workstation not known');
    const before = received.length;
    const sentId = await system.dashboard.locker.lock(workstation, system.agent.person, 'exit');
    const command = await nextCommand(before + 1);
    expect(command.id).toBe(sentId);
    system.clock.advance(8 * 3_600_000 + 1000);
    await system.dashboard.locker.resendDue();
    expect(await owed()).toEqual([]);
    expect(received.at(-1)?.id).toBe(command.id);
    const abandoned = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-abandoned'`,
    );
    expect(abandoned.rows).toMatchObject([
      { details: { user: system.agent.person, reason: 'exit', lock: command.id } },
    ]);
    // Never alarmed as unconfirmed (one send), it is now an incident of its own, for staff.
    expect(await openAlarms()).toEqual([]);
    const incident = async () =>
      (
        await system.dashboard.pool.query<{ severity: string; detail: string; cleared: boolean }>(
          `SELECT severity, detail, cleared_at IS NOT NULL AS cleared FROM alarms WHERE key = $1`,
          [`workstation-lock-abandoned:${command.id}`],
        )
      ).rows;
    expect(await incident()).toMatchObject([{ severity: 'critical', cleared: false }]);
    expect((await incident())[0]?.detail).toMatch(
      /given up after 1 sends without a confirmation: lock it by hand/,
    );
    // The next lock there is confirmed: the incident stays for staff to resolve.
    const next = await system.dashboard.locker.lock(workstation, 'erased', 'badge-revoked');
    if (!next) throw new Error('the next lock was not sent');
    expect((await lockResult(next, 'ok')).statusCode).toBe(200);
    expect(await incident()).toMatchObject([{ cleared: false }]);
  });
});
