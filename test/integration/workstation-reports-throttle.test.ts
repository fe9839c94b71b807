import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * A workstation's reports (lock results, break-glass reports, heartbeats) have an allowance of
 * their own beside its login checks'. A workstation that could not reach central keeps its lock
 * results and sends them all with its next heartbeat (unreported-results.ts flushes until one is
 * refused): such a backlog neither counts as a flood nor uses up the next person's login checks.
 * A stolen workstation token cannot flood the audit log through the reports either: those beyond
 * the allowance are answered 429 (which the workstation retries) and write nothing.
 */
describe("a workstation's reports: an allowance of their own, and 429 beyond it", () => {
  /** A shared workstation back from an outage. */
  const BACKLOG = 'ws-backlog.ident.example';
  /** A workstation whose token is in the wrong hands. */
  const FLOOD = 'ws-flood.ident.example';
  /** Lock results kept during an outage (the login checks' burst is 20). */
  const KEPT = 25;
  const REQUESTS = 100;
  /** Reports' default allowance: 60 at once (three times the checks'; the refill adds a few while this runs). */
  const BURST = 60;
  let system: TestSystem;
  // One workstation each: the allowance is per workstation, so the flood cannot spend the backlog's.
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    system = await startTestSystem();
    await seedDirectory(system);
    for (const ws of [BACKLOG, FLOOD]) tokens.set(ws, await registerWorkstation(system, ws));
  });

  afterAll(async () => {
    await system?.stop();
  });

  const post = (ws: string, path: string, payload: Record<string, unknown>) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${ws}/${path}`,
      headers: { authorization: `Bearer ${tokens.get(ws)}` },
      payload,
    });

  /** The workstation's audit entries, counted by action. */
  const audited = async (ws: string): Promise<Record<string, number>> => {
    const written = await system.dashboard.pool.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_log WHERE target = $1 GROUP BY action`,
      [`workstation:${ws}`],
    );
    return Object.fromEntries(written.rows.map((r) => [r.action, r.n]));
  };

  it('neither raises a login-flood warning nor throttles the next login check after a backlog of lock results', async () => {
    for (let i = 0; i < KEPT; i++) {
      const sent = await post(BACKLOG, 'lock-result', { status: 'ok', command: randomUUID() });
      expect([200, 429]).toContain(sent.statusCode);
      if (sent.statusCode !== 200) break; // the agent stops its flush at the first 429 and retries later
    }
    const check = await post(BACKLOG, 'login-check', { user: system.agent.person });
    await system.dashboard.loginChecks.idle();
    expect({
      throttled: check.json().reason === 'throttled',
      floodAudited: (await audited(BACKLOG))['workstation.login-throttled'] ?? 0,
    }).toEqual({ throttled: false, floodAudited: 0 });
  });

  it('records no more lock results and break-glass reports than the rate lets through', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const response =
        i % 2 === 0
          ? await post(FLOOD, 'lock-result', { status: 'rejected', reason: `noise ${i}` })
          : await post(FLOOD, 'break-glass', {
              user: 'agent-noise',
              reason: `noise ${i}`,
              at: new Date().toISOString(),
              outcome: 'refused',
            });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) expect(response.json().code).toBe('IDG_WORKSTATION_THROTTLED');
    }
    const throttled = statuses.filter((s) => s === 429).length;
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(throttled).toBeGreaterThanOrEqual(REQUESTS - BURST - 5);
    const counts = await audited(FLOOD);
    // One entry per answered report, one for the flood's start: nothing for the refused ones.
    expect(
      (counts['workstation.lock-result'] ?? 0) + (counts['workstation.break-glass-refused'] ?? 0) + throttled,
    ).toBe(REQUESTS);
    expect(counts['workstation.login-throttled']).toBe(1);
  });

  // After the test above: its flood has spent the allowance.
  it('refuses a heartbeat beyond the rate too, so the flood goes on counting', async () => {
    const response = await post(FLOOD, 'agent-heartbeat', {});
    expect({ status: response.statusCode, code: response.json().code }).toEqual({
      status: 429,
      code: 'IDG_WORKSTATION_THROTTLED',
    });
  });
});
