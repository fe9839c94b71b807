import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockAlarmKey } from '../../src/dashboard/presence/workstation-locker.js';
import { importPublicKey } from '../../src/protocol/signing.js';
import { checkLockCommand, type WorkstationCommand } from '../../src/protocol/workstation-commands.js';
import { registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { until } from '../helpers/wait.js';

/**
 * Owed locks at their edges (the fourth review): a failure with one lock holds up no other, a
 * person erased meanwhile is not named, hostile text from a workstation is stored, a login check
 * ends a shutdown before it is answered, and long workstation ids keep their own alarms.
 */
describe('owed locks at their edges', () => {
  let system: TestSystem;
  let subscriber: MqttClient;
  const received: WorkstationCommand[] = [];
  const tokens = new Map<string, string>();
  const A = 'ws-a.ident';
  const B = 'ws-b.ident';

  const lockResult = (ws: string, payload: Record<string, unknown>) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${ws}/lock-result`,
      headers: { authorization: `Bearer ${tokens.get(ws)}` },
      payload,
    });
  const row = (ws: string) => {
    const found = system.dashboard.presence.workstation(ws);
    if (!found) throw new Error(`${ws} not known`);
    return found;
  };

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    for (const ws of [A, B]) tokens.set(ws, await registerWorkstation(system, ws));
    const key = importPublicKey(system.centralPublicKey);
    subscriber = await connectAsync(mqttUrl());
    subscriber.on('message', (topic, payload) => {
      const ws = topic.split('/')[4] as string;
      const checked = checkLockCommand(
        payload,
        key,
        { site: system.site, workstation: ws },
        system.clock.now(),
      );
      if (checked.ok) received.push(checked.command);
    });
    await subscriber.subscribeAsync(`identgate/v1/${system.site}/workstations/+/commands`, { qos: 1 });
  });
  afterAll(async () => {
    await subscriber?.endAsync();
    await system?.stop();
  });

  it("sends every due lock even when another one's alarm cannot be raised", async () => {
    for (const ws of [A, B]) await system.dashboard.locker.lock(row(ws), 'erased', 'badge-revoked');
    for (const wait of [20_000, 40_000]) {
      system.clock.advance(wait + 1000);
      await system.dashboard.locker.resendDue();
    }
    const before = received.length;
    // The next run alarms both; raising fails for the first of them.
    const alarms = system.dashboard.alarms;
    const raise = alarms.raiseCentralUnlessOpen.bind(alarms);
    alarms.raiseCentralUnlessOpen = async (alarm) => {
      alarms.raiseCentralUnlessOpen = raise;
      throw new Error(`connection lost while raising ${alarm.key}`);
    };
    system.clock.advance(81_000);
    await system.dashboard.locker.resendDue();
    await until(() => received.length >= before + 2, 'both locks sent again');
    const open = await system.dashboard.pool.query<{ key: string }>(
      `SELECT key FROM alarms WHERE alarm = 'workstation-lock-failed' AND cleared_at IS NULL ORDER BY key`,
    );
    expect(open.rows).toHaveLength(1);
    // The next run raises the one that failed.
    system.clock.advance(161_000);
    await system.dashboard.locker.resendDue();
    const again = await system.dashboard.pool.query<{ key: string }>(
      `SELECT key FROM alarms WHERE alarm = 'workstation-lock-failed' AND cleared_at IS NULL ORDER BY key`,
    );
    expect(again.rows.map((r) => r.key)).toEqual([lockAlarmKey(A), lockAlarmKey(B)]);
    for (const ws of [A, B]) {
      const last = [...received].reverse().find((c) => c.workstation === ws) as WorkstationCommand;
      expect((await lockResult(ws, { command: last.id, status: 'ok' })).statusCode).toBe(200);
    }
  });

  it('names nobody, in the command and the audit, when the person was erased before the lock was owed', async () => {
    const before = received.length;
    const sent = await system.dashboard.locker.lock(row(A), 'gone-person', 'exit');
    await until(() => received.length > before, 'the lock at the broker');
    expect(received.at(-1)).toMatchObject({ id: sent, data: { user: 'erased', reason: 'exit' } });
    const audit = await system.dashboard.pool.query<{ details: Record<string, unknown> }>(
      `SELECT details FROM audit_log WHERE action = 'workstation.lock-sent' AND details->>'command' = $1`,
      [sent],
    );
    expect(audit.rows).toMatchObject([{ details: { user: 'erased' } }]);
    expect(JSON.stringify(audit.rows)).not.toContain('gone-person');
    expect((await lockResult(A, { command: sent, status: 'ok' })).statusCode).toBe(200);
  });

  it('stores a reason holding a NUL byte instead of failing the result', async () => {
    const sent = await system.dashboard.locker.lock(row(A), 'erased', 'badge-revoked');
    const reply = await lockResult(A, { command: sent, status: 'ok', reason: 'locked\u0000 by loginctl' });
    expect(reply.statusCode).toBe(200);
    expect(await system.dashboard.locker.owedLocks()).toEqual([]);
  });

  it('ends a shutdown at any login check, before it is answered', async () => {
    const shutdown = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${B}/agent-heartbeat`,
      headers: { authorization: `Bearer ${tokens.get(B)}` },
      payload: { state: 'shutdown' },
    });
    expect(shutdown.json()).toEqual({ recorded: true });
    const check = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${B}/login-check`,
      headers: { authorization: `Bearer ${tokens.get(B)}` },
      payload: { user: system.agent.person },
    });
    expect(check.json()).toEqual({ allow: false, reason: 'not-present' });
    const state = await system.dashboard.pool.query<{ at: Date | null }>(
      'SELECT agent_shutdown_at AS at FROM workstations WHERE id = $1',
      [B],
    );
    expect(state.rows[0]?.at).toBeNull();
    expect(await system.dashboard.locker.lock(row(B), 'erased', 'badge-revoked')).toBeDefined();
    const sent = (await system.dashboard.locker.owedLocks())[0]?.command as string;
    expect((await lockResult(B, { command: sent, status: 'ok' })).statusCode).toBe(200);
  });

  it('keeps one alarm per workstation for ids too long for a key, sharing their start', () => {
    const start = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}`;
    const one = lockAlarmKey(`${start}.one.ident`);
    const two = lockAlarmKey(`${start}.two.ident`);
    expect(one).not.toBe(two);
    expect(one.length).toBeLessThanOrEqual(200);
    expect(lockAlarmKey(A)).toBe(`workstation-lock-failed:${A}`);
  });
});
