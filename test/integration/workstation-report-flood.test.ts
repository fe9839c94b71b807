import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * A stolen workstation token cannot flood the audit log through the workstation's reports either:
 * lock results, break-glass reports and heartbeats have an allowance of their own, and those
 * beyond it are answered 429 (which the workstation retries) and write nothing.
 */
describe("a workstation's reports beyond its rate", () => {
  const WS = 'ws-flood.ident.example';
  const REQUESTS = 100;
  /** Reports' default allowance: 60 at once (three times the checks'; the refill adds a few while this runs). */
  const BURST = 60;
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

  const post = (path: string, payload: unknown) =>
    system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/${path}`,
      headers: { authorization: `Bearer ${token}` },
      payload: payload as Record<string, unknown>,
    });

  it('records no more lock results and break-glass reports than the rate lets through', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const response =
        i % 2 === 0
          ? await post('lock-result', { status: 'rejected', reason: `noise ${i}` })
          : await post('break-glass', {
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
    const written = await system.dashboard.pool.query<{ action: string; n: number }>(
      `SELECT action, count(*)::int AS n FROM audit_log WHERE target = $1 GROUP BY action ORDER BY action`,
      [`workstation:${WS}`],
    );
    const counts = Object.fromEntries(written.rows.map((r) => [r.action, r.n]));
    // One entry per answered report, one for the flood's start: nothing for the refused ones.
    expect(
      (counts['workstation.lock-result'] ?? 0) + (counts['workstation.break-glass-refused'] ?? 0) + throttled,
    ).toBe(REQUESTS);
    expect(counts['workstation.login-throttled']).toBe(1);
  });

  it('refuses a heartbeat beyond the rate too, so the flood goes on counting', async () => {
    const response = await system.dashboard.http.inject({
      method: 'POST',
      url: `/api/v1/workstations/${WS}/agent-heartbeat`,
      headers: { authorization: `Bearer ${token}` },
      payload: {},
    });
    expect({ status: response.statusCode, code: response.json().code }).toEqual({
      status: 429,
      code: 'IDG_WORKSTATION_THROTTLED',
    });
  });
});
