import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import type { SimulatedLockRelay } from '../../src/gateway/devices/simulated-devices.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { uniqueSite } from '../helpers/services.js';
import { testGatewayConfig } from '../helpers/system.js';

/**
 * The door state a gateway keeps in `door-state.json` (GatewayStateStore), seen across restarts
 * of the whole gateway: what the next start applies to the doors.
 */
const ada = {
  badge: 'B-ADA',
  person: 'ada',
  name: 'Ada',
  status: 'active',
  totpSecret: generateTotpSecret(),
};
const running: Gateway[] = [];

async function startGateway(site: string, stateDir: string) {
  const gateway = new Gateway({ config: testGatewayConfig(site, stateDir), log: silentLogger });
  gateway.credentials.replace([ada] as never, Date.now());
  const recorded: Envelope[] = [];
  gateway.bus.on('test', 'recorded', (event) => recorded.push(event));
  await gateway.start();
  running.push(gateway);
  return {
    gateway,
    recorded,
    badge: () => runSim({ action: ['badge', ada.badge], door: 'main', socket: gateway.simSocketPath }),
    lock: () => {
      const door = gateway.doors.get('main');
      if (!door) throw new Error('door main is missing');
      return (door.devices.lock as SimulatedLockRelay).state;
    },
    stop: async () => {
      running.splice(running.indexOf(gateway), 1);
      await gateway.stop();
    },
  };
}

afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
});

describe('gateway door state across restarts', () => {
  it('keeps a site lockdown in force after a clean restart', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    const first = await startGateway(site, stateDir);
    first.gateway.setLockdown(true);
    await first.stop();
    const second = await startGateway(site, stateDir);
    expect(await second.badge()).toEqual(['denied: lockdown']);
  });

  it('holds the site in lockdown, without an evacuation, after a restart that cannot read its door state', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    const first = await startGateway(site, stateDir);
    first.gateway.setEvacuation(true);
    await first.stop();
    writeFileSync(join(stateDir, 'door-state.json'), '{"clean": tr');
    const second = await startGateway(site, stateDir);
    expect(second.lock()).toBe('locked');
    expect(await second.badge()).toEqual(['denied: lockdown']);
    // Officers are told, and the dashboard sees the lockdown as any other.
    const told = second.recorded.filter(
      (e) => (e.kind === 'alarm.raised' && e.data.key === 'door-state-lost') || e.kind === 'lockdown.changed',
    );
    expect(told.map((e) => [e.kind, e.data])).toEqual([
      [
        'alarm.raised',
        expect.objectContaining({
          alarm: 'internal-error',
          severity: 'critical',
          detail: expect.stringContaining('the site is held in lockdown until an officer ends it'),
        }),
      ],
      ['lockdown.changed', { active: true }],
    ]);
  });

  it('releases the doors again after a restart during an evacuation', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    const first = await startGateway(site, stateDir);
    first.gateway.setEvacuation(true);
    await first.stop();
    const second = await startGateway(site, stateDir);
    expect(second.lock()).toBe('unlocked');
  });
});
