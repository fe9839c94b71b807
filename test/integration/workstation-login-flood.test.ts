import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { floodAlarmKey } from '../../src/dashboard/presence/login-check-throttle.js';
import { silentLogger } from '../../src/lib/logger.js';
import { CentralClient } from '../../src/workstation/central-client.js';
import { LoginGate } from '../../src/workstation/login-gate.js';
import { badgeIn, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** A stolen workstation credential asking again and again, against the default limits (20, one per 2 s). */
describe('a flood of login checks from one workstation, against the real dashboard and database', () => {
  const WS = 'ws-1.ident.example';
  const FLOOD = 60;
  let system: TestSystem;
  let token: string;
  let otherToken: string;
  let stateDir: string;
  /** Answers to the flood, in order. */
  const answers: Array<{ allow: boolean; reason?: string }> = [];

  const check = (user: string, id = WS, bearer = token) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${id}/login-check`,
      headers: { authorization: `Bearer ${bearer}` },
      payload: { user },
    });
  const auditRows = async () =>
    (
      await system.dashboard.pool.query<{ action: string; actor: string; details: Record<string, unknown> }>(
        `SELECT action, actor, details FROM audit_log
          WHERE action LIKE 'workstation.login-%' AND target = $1 ORDER BY id`,
        [`workstation:${WS}`],
      )
    ).rows;
  const floodAlarms = async () =>
    (
      await system.dashboard.pool.query<{ key: string; severity: string; site: string; cleared: boolean }>(
        `SELECT key, severity, site, cleared_at IS NOT NULL AS cleared FROM alarms
          WHERE alarm = 'workstation-login-flood' ORDER BY id`,
      )
    ).rows;
  const throttledCount = () => answers.filter((a) => a.reason === 'throttled').length;

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    token = await registerWorkstation(system, WS);
    otherToken = await registerWorkstation(system, 'ws-2');
    await badgeIn(system);
    stateDir = mkdtempSync(join(tmpdir(), 'idg-flood-'));
  });

  afterAll(async () => {
    await system?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('answers the first checks, then denies the rest as throttled', async () => {
    for (let i = 0; i < FLOOD; i++) {
      const response = await check(system.agent.person);
      expect(response.statusCode, response.body).toBe(200);
      answers.push(response.json());
    }
    // The burst is whole at the start; after it, only the refill (one per 2 s) gets through.
    expect(answers.slice(0, 20)).toEqual(Array(20).fill({ allow: true }));
    expect(answers.slice(20).filter((a) => a.allow).length).toBeLessThan(FLOOD - 20);
    for (const answer of answers)
      if (!answer.allow) expect(answer).toEqual({ allow: false, reason: 'throttled' });
    expect(throttledCount()).toBeGreaterThan(0);
  });

  it('audits each answered check, and the flood once, not each throttled check', async () => {
    const rows = await auditRows();
    expect(rows.filter((r) => r.action === 'workstation.login-allowed')).toHaveLength(
      FLOOD - throttledCount(),
    );
    expect(rows.filter((r) => r.action === 'workstation.login-denied')).toEqual([]);
    expect(rows.filter((r) => r.action.startsWith('workstation.login-throttle'))).toEqual([
      {
        action: 'workstation.login-throttled',
        actor: `workstation:${WS}`,
        details: { burst: 20, intervalSeconds: 2 },
      },
    ]);
  });

  it('raises one workstation-login-flood warning for the workstation, at its site', async () => {
    expect(await floodAlarms()).toEqual([
      { key: floodAlarmKey(WS), severity: 'warning', site: system.site, cleared: false },
    ]);
  });

  it('tells the person at the workstation why the login is denied', async () => {
    const gate = new LoginGate({
      client: new CentralClient({
        url: system.dashboard.url as string,
        workstation: WS,
        token,
        timeoutMs: 5_000,
      }),
      clock: system.clock,
      stateDir,
      graceMs: 120_000,
      retentionDays: 60,
      log: silentLogger,
    });
    expect(await gate.check(system.agent.person)).toEqual({
      allow: false,
      reason: 'throttled',
      detail: expect.stringContaining('far too many in a short time'),
    });
    // One more throttled check for the flood's count.
    answers.push({ allow: false, reason: 'throttled' });
  });

  it('throttles only the flooding workstation', async () => {
    const response = await check(system.agent.person, 'ws-2', otherToken);
    expect(response.json()).toEqual({ allow: true });
  });

  it('ends the flood once the workstation is calm: the count audited, the warning cleared, the next login allowed', async () => {
    // Calm: the bucket's refill time (20 × 2 s) without a throttled check.
    system.clock.advance(40_000);
    expect((await check(system.agent.person)).json()).toEqual({ allow: true });
    const rows = await auditRows();
    const ended = rows.findIndex((r) => r.action === 'workstation.login-throttle-ended');
    expect(rows[ended]).toMatchObject({
      actor: 'system',
      details: { throttled: throttledCount(), reason: 'calm' },
    });
    // Ended before the allowed check was answered, and written before its entry.
    expect(rows.slice(ended + 1).map((r) => r.action)).toEqual(['workstation.login-allowed']);
    expect(await floodAlarms()).toEqual([
      { key: floodAlarmKey(WS), severity: 'warning', site: system.site, cleared: true },
    ]);
    expect(system.dashboard.loginChecks.tracked.floods).toBe(0);
  });

  it('clears at start the warning an instance that crashed during a flood left open, and no other alarm', async () => {
    const { alarms, loginChecks } = system.dashboard;
    await alarms.raiseCentral({
      alarm: 'workstation-login-flood',
      key: floodAlarmKey('ws-2'),
      severity: 'warning',
    });
    await alarms.raiseCentral({
      alarm: 'workstation-agent-offline',
      key: 'workstation-agent-offline:ws-2',
      severity: 'warning',
    });
    await loginChecks.start();
    const open = await system.dashboard.pool.query<{ alarm: string }>(
      `SELECT alarm FROM alarms WHERE cleared_at IS NULL AND key LIKE '%:ws-2'`,
    );
    expect(open.rows).toEqual([{ alarm: 'workstation-agent-offline' }]);
  });
});
