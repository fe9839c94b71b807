import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { startTestSystem, type TestSystem, testGatewayConfig } from '../helpers/system.js';

/**
 * A gateway whose saved credential set cannot be read (damaged on its SD card) still starts: it
 * denies every badge, says why, and takes the central side's set, which its start asks for.
 */
describe('a gateway with a damaged credential cache', () => {
  let system: TestSystem;
  let restarted: Gateway | undefined;

  beforeAll(async () => {
    system = await startTestSystem();
  });

  afterAll(async () => {
    await restarted?.stop();
    await system?.stop();
  });

  it('starts without the saved set, raises an alarm, and applies the set the central side sends', async () => {
    const { gateway, site, agent } = system;
    const before = gateway.credentials.version;
    expect(gateway.credentials.findByBadge(agent.badge)?.status).toBe('active');
    // As if the last set had not been saved: the restart goes back to the saved one, and ends it.
    gateway.runtime.alarms.raise({
      alarm: 'credentials-unsaved',
      key: 'credentials-unsaved',
      severity: 'critical',
      detail: 'credential set in use but not saved',
    });
    expect(await system.dashboard.waitForSequence(site, 'gw-1', gateway.lastSequence, 10_000)).toBe(true);
    await gateway.stop();
    const path = join(gateway.stateDir, 'credentials.sealed');
    const sealed = readFileSync(path);
    writeFileSync(path, sealed.subarray(0, Math.floor(sealed.length / 2)));

    restarted = new Gateway({
      config: testGatewayConfig(site, gateway.stateDir, {
        central: { publicKey: system.centralPublicKey },
        simControl: false,
      }),
      log: silentLogger,
    });
    const recorded = (kind: string, test: (e: Envelope) => boolean = () => true) =>
      new Promise<Envelope>((resolve) => {
        const off = restarted?.bus.on('wait', 'recorded', (e) => {
          if (e.kind === kind && test(e)) {
            off?.();
            resolve(e);
          }
        });
      });
    const alarm = recorded(
      'alarm.raised',
      (e) =>
        e.kind === 'alarm.raised' &&
        e.data.alarm === 'credentials-rejected' &&
        String(e.data.detail).includes('cannot be read'),
    );
    const updated = recorded('credentials.updated');
    const requested = recorded('credentials.requested');
    await restarted.start();
    expect((await alarm).data).toMatchObject({ severity: 'critical' });
    // The request names the newest version applied, kept apart from the damaged set.
    expect((await requested).data).toEqual({ version: before });
    expect(((await updated).data as { version: number }).version).toBeGreaterThan(before);
    expect(restarted.credentials.findByBadge(agent.badge)?.status).toBe('active');
    // The restart ended it: the gateway, which carried it over, clears it as it starts.
    expect(await system.dashboard.waitForSequence(site, 'gw-1', restarted.lastSequence, 10_000)).toBe(true);
    const { rows } = await system.dashboard.pool.query(
      `SELECT cleared_at IS NOT NULL AS cleared FROM alarms WHERE site = $1 AND key = 'credentials-unsaved'`,
      [site],
    );
    expect(rows).toEqual([{ cleared: true }]);
  });
});
