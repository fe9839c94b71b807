import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import { ALARM_CONDITIONS_FILE } from '../../src/gateway/alarm-condition-file.js';
import type { SimulatedDoorContact } from '../../src/gateway/devices/simulated-devices.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { startTestSystem, type TestSystem, testGatewayConfig } from '../helpers/system.js';

/**
 * Alarm conditions a gateway raised before a restart end at the central side after it: the
 * gateway carries them over in its state directory and clears those that ended meanwhile.
 */
describe('alarm conditions across a gateway restart', () => {
  let system: TestSystem;
  let gateway: Gateway;

  beforeAll(async () => {
    system = await startTestSystem();
    gateway = system.gateway;
  });

  afterAll(async () => {
    if (gateway !== system?.gateway) await gateway?.stop();
    await system?.stop();
  });

  /** Every event the next gateway records from its start, and a wait for the first that matches. */
  function watch(next: Gateway) {
    const recorded: Envelope[] = [];
    next.bus.on('test', 'recorded', (event) => recorded.push(event));
    const waitFor = (test: (e: Envelope) => boolean, timeoutMs = 15_000) =>
      new Promise<Envelope>((resolve, reject) => {
        const seen = recorded.find(test);
        if (seen) return resolve(seen);
        const timer = setTimeout(() => {
          off();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for an event`));
        }, timeoutMs);
        const off = next.bus.on('wait', 'recorded', (event) => {
          if (!test(event)) return;
          clearTimeout(timer);
          off();
          resolve(event);
        });
      });
    return { recorded, waitFor };
  }

  /** Stops the running gateway and starts another on its state directory. */
  async function restart(overrides: Partial<GatewayConfig>) {
    await gateway.stop();
    const next = new Gateway({
      config: testGatewayConfig(system.site, gateway.stateDir, {
        central: { publicKey: system.centralPublicKey },
        ...overrides,
      }),
      log: silentLogger,
    });
    const watched = watch(next);
    gateway = next;
    await next.start();
    return watched;
  }

  /** Waits until the dashboard stored every event recorded so far; the alarm rows of `key`. */
  async function centralAlarms(key: string) {
    // Alarm events wait until their conditions file is written: drained once they are sent.
    await gateway.drained();
    expect(await system.dashboard.waitForSequence(system.site, 'gw-1', gateway.lastSequence, 10_000)).toBe(
      true,
    );
    const { rows } = await system.dashboard.pool.query(
      `SELECT alarm, severity, cleared_at IS NOT NULL AS cleared FROM alarms
        WHERE site = $1 AND gateway = 'gw-1' AND key = $2 ORDER BY id`,
      [system.site, key],
    );
    return rows;
  }

  const isAlarm = (kind: 'alarm.raised' | 'alarm.cleared', key: string) => (e: Envelope) =>
    e.kind === kind && e.data.key === key;

  it('clears a camera-down alarm after the settle period when the camera is not seen again', async () => {
    gateway.record({ kind: 'camera.down', data: { camera: 'cam-gone', reason: 'exit', retryInMs: 1000 } });
    expect(await centralAlarms('camera-down:cam-gone')).toEqual([
      { alarm: 'camera-down', severity: 'critical', cleared: false },
    ]);
    const after = await restart({ alarmSettleSeconds: 1 });
    const cleared = await after.waitFor(isAlarm('alarm.cleared', 'camera-down:cam-gone'));
    expect(cleared.data).toMatchObject({
      alarm: 'camera-down',
      detail: 'not observed again within 1 s after the gateway restarted',
    });
    expect(after.recorded.filter(isAlarm('alarm.raised', 'camera-down:cam-gone'))).toEqual([]);
    expect(await centralAlarms('camera-down:cam-gone')).toEqual([
      { alarm: 'camera-down', severity: 'critical', cleared: true },
    ]);
  });

  it('clears a forced door closed during the restart as the gateway starts, without waiting to settle', async () => {
    const contact = gateway.doors.get('main')?.devices.contact as SimulatedDoorContact;
    contact.set(true);
    expect(await centralAlarms('door-forced:main')).toEqual([
      { alarm: 'door-forced', severity: 'critical', cleared: false },
    ]);
    // The simulated contact of the next run starts closed: the door was shut while it was down.
    const after = await restart({ alarmSettleSeconds: 3600 });
    const cleared = await after.waitFor(isAlarm('alarm.cleared', 'door-forced:main'));
    expect(cleared.data).toMatchObject({ detail: 'door closed at start' });
    expect(await centralAlarms('door-forced:main')).toEqual([
      { alarm: 'door-forced', severity: 'critical', cleared: true },
    ]);
  });

  it('says that the conditions before the restart are unknown when their file is damaged', async () => {
    gateway.record({ kind: 'camera.down', data: { camera: 'cam-lost', reason: 'stall', retryInMs: 1000 } });
    expect(await centralAlarms('camera-down:cam-lost')).toHaveLength(1);
    await gateway.stop();
    writeFileSync(join(gateway.stateDir, ALARM_CONDITIONS_FILE), '{"conditions":[{"alarm":"cam');
    const after = await restart({ alarmSettleSeconds: 1 });
    const lost = await after.waitFor(isAlarm('alarm.raised', 'alarm-state-lost'));
    expect(lost.data).toMatchObject({
      alarm: 'internal-error',
      severity: 'warning',
      detail: expect.stringContaining('the alarm conditions active before the restart are unknown'),
    });
    expect(await centralAlarms('alarm-state-lost')).toEqual([
      { alarm: 'internal-error', severity: 'warning', cleared: false },
    ]);
    // Nothing carried over: the camera's alarm is not cleared on a guess.
    expect(gateway.runtime.alarms.isActive('camera-down:cam-lost')).toBe(false);
    expect(after.recorded.filter(isAlarm('alarm.cleared', 'camera-down:cam-lost'))).toEqual([]);
  });
});
