import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import type { SimulatedLockRelay } from '../../src/gateway/devices/simulated-devices.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { GatewayOptions } from '../../src/gateway/gateway-options.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { CLOCK_SKEW_MS, signCommand } from '../../src/protocol/commands.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';
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

async function startGateway(
  site: string,
  stateDir: string,
  overrides: Partial<GatewayConfig> = {},
  options: Omit<GatewayOptions, 'config' | 'log'> = {},
) {
  const gateway = new Gateway({
    ...options,
    config: testGatewayConfig(site, stateDir, overrides),
    log: silentLogger,
  });
  gateway.credentials.replace([ada] as never, Date.now());
  const recorded: Envelope[] = [];
  gateway.bus.on('test', 'recorded', (event) => recorded.push(event));
  // The broker acknowledged an event, published after the connection's subscriptions: they are
  // in place from then on (the broker takes a connection's packets in order).
  const subscribed = new Promise<void>((resolve) => {
    const off = gateway.bus.on('test', 'acked', () => {
      off();
      resolve();
    });
  });
  await gateway.start();
  running.push(gateway);
  return {
    gateway,
    recorded,
    subscribed,
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

/** Signs the site's end of lockdown for gw-1 with the central key, issued at the time given. */
function lockdownOffSigner(site: string, key: KeyObject) {
  const ids = new Uuidv7Generator();
  return (issuedAt: number) =>
    signCommand(
      { kind: 'lockdown.set', data: { active: false } },
      { site, gateway: 'gw-1' },
      ids.next(),
      issuedAt,
      60_000,
      key,
    );
}

const clients: MqttClient[] = [];

afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
  for (const client of clients.splice(0)) await client.endAsync();
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

  it('takes a door state removed after a run for lost, not for a first start', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    const first = await startGateway(site, stateDir);
    await first.stop();
    rmSync(join(stateDir, 'door-state.json'));
    const second = await startGateway(site, stateDir);
    const lost = second.recorded.find((e) => e.kind === 'alarm.raised' && e.data.key === 'door-state-lost');
    expect(lost?.data).toMatchObject({
      detail: expect.stringContaining('the file is missing, though this gateway ran here before'),
    });
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

  it('ends the lockdown of a lost state on a command issued after the restart, and refuses one issued before it', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    writeFileSync(join(stateDir, 'door-state.json'), '{"clean": tr');
    const central = generateSigningKeyPair();
    const started = await startGateway(site, stateDir, {
      central: { publicKey: exportPublicKey(central.publicKey) },
    });
    expect(await started.badge()).toEqual(['denied: lockdown']);
    // Commands issued no later than this may have run before the restart.
    const bound = JSON.parse(readFileSync(join(stateDir, 'door-state.json'), 'utf8')).commandsIssuedThrough;
    const lockdownOff = lockdownOffSigner(site, central.privateKey);
    const before = lockdownOff(bound);
    const after = lockdownOff(bound + 1);
    const answers = new Map<string, Record<string, unknown>>();
    const answered = new Promise<void>((resolve) => {
      started.gateway.bus.on('test', 'recorded', (event) => {
        if (event.kind !== 'command.result') return;
        answers.set(String(event.data.command), event.data);
        if (answers.size === 2) resolve();
      });
    });
    const raw = await connectAsync(mqttUrl(), { clientId: `idg-raw-${site}`, clean: true });
    clients.push(raw);
    await started.subscribed;
    for (const command of [before, after])
      await raw.publishAsync(topics.commands(site, 'gw-1'), JSON.stringify(command), { qos: 1 });
    await answered;
    expect(answers.get(before.id)).toMatchObject({
      status: 'rejected',
      reason: 'replayed: it may have run before this gateway restarted and lost its door state',
    });
    expect(answers.get(after.id)).toMatchObject({ status: 'ok' });
    expect(await started.badge()).toEqual(['awaiting code (20 s)']);
  });

  it('lowers the bound of a lost state found with a clock far ahead once the clock is synchronised', async () => {
    const site = uniqueSite('gds');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gds-'));
    writeFileSync(join(stateDir, 'door-state.json'), 'not json');
    const central = generateSigningKeyPair();
    // The gateway boots with its clock a year ahead and not yet synchronised.
    const clock = { offset: 365 * 24 * 3_600_000 };
    const probe = { synchronised: false };
    const started = await startGateway(
      site,
      stateDir,
      { central: { publicKey: exportPublicKey(central.publicKey) } },
      {
        clock: { now: () => Date.now() + clock.offset, setTimeout: systemClock.setTimeout },
        clockProbe: async () => ({ ...probe, detail: `test: ${probe.synchronised}` }),
      },
    );
    const lockdownOff = lockdownOffSigner(site, central.privateKey);
    const bound = () =>
      JSON.parse(readFileSync(join(stateDir, 'door-state.json'), 'utf8')).commandsIssuedThrough;
    const raw = await connectAsync(mqttUrl(), { clientId: `idg-raw-${site}`, clean: true });
    clients.push(raw);
    await started.subscribed;
    // The first command a bound lets through, as an officer sending it a moment after the start.
    const answer = async () => {
      const command = lockdownOff(bound() + 1);
      const result = new Promise<Record<string, unknown>>((resolve) => {
        const off = started.gateway.bus.on('test', 'recorded', (event) => {
          if (event.kind !== 'command.result' || event.data.command !== command.id) return;
          off();
          resolve(event.data);
        });
      });
      await raw.publishAsync(topics.commands(site, 'gw-1'), JSON.stringify(command), { qos: 1 });
      return result;
    };
    // The bound a year ahead refuses every command the officers can send: valid by the real
    // time, it is not yet valid or may have run before, as the gateway's clock reads.
    expect(bound()).toBeGreaterThan(Date.now() + 300 * 24 * 3_600_000);
    clock.offset = 0;
    expect(await answer()).toMatchObject({ status: 'rejected' });
    probe.synchronised = true;
    await started.gateway.clockSync.check();
    expect(bound()).toBeLessThanOrEqual(Date.now() + CLOCK_SKEW_MS);
    // Issued after the start by the synchronised clock: it cannot have run before, and ends the lockdown.
    expect(await answer()).toMatchObject({ status: 'ok' });
    expect(await started.badge()).toEqual(['awaiting code (20 s)']);
  });
});
