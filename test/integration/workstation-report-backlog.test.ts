import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * A workstation that could not reach central keeps its lock results and sends them all with its
 * next heartbeat (unreported-results.ts flushes until one is refused). Reports have an allowance
 * of their own, so such a backlog neither counts as a flood nor uses up the next person's login
 * checks.
 */
describe('a backlog of lock results after a central outage', () => {
  const WS = 'ws-backlog.ident.example';
  /** Lock results kept during an outage of a shared workstation (the burst is 20). */
  const KEPT = 25;
  let system: TestSystem;
  let token: string;

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    token = await registerWorkstation(system, WS);
  });

  afterAll(async () => {
    await system?.stop();
  });

  const post = (path: string, payload: Record<string, unknown>) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/${path}`,
      headers: { authorization: `Bearer ${token}` },
      payload,
    });

  it('neither raises a login-flood warning nor throttles the next login check', async () => {
    for (let i = 0; i < KEPT; i++) {
      const sent = await post('lock-result', { status: 'ok', command: randomUUID() });
      expect([200, 429]).toContain(sent.statusCode);
      if (sent.statusCode !== 200) break; // the agent stops its flush at the first 429 and retries later
    }
    const check = await post('login-check', { user: system.agent.person });
    await system.dashboard.loginChecks.idle();
    const flood = await system.dashboard.pool.query(
      `SELECT 1 FROM audit_log WHERE action = 'workstation.login-throttled' AND target = $1`,
      [`workstation:${WS}`],
    );
    expect({ throttled: check.json().reason === 'throttled', floodAudited: flood.rowCount }).toEqual({
      throttled: false,
      floodAudited: 0,
    });
  });
});
