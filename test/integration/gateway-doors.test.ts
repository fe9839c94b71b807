import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { ClockProbe } from '../../src/gateway/clock-sync-monitor.js';
import type {
  SimulatedBadgeReader,
  SimulatedLockRelay,
} from '../../src/gateway/devices/simulated-devices.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { uniqueSite } from '../helpers/services.js';
import { testGatewayConfig, testPolicy } from '../helpers/system.js';

/**
 * The gateway as a whole, driven through its simulated devices and its sim socket, with its
 * real outbox, state files and MQTT connection (to the test broker).
 */
const ada = { badge: 'B-ADA', person: 'ada', secret: generateTotpSecret() };
const totp = new TotpVerifier();
const running: Gateway[] = [];

interface Started {
  gateway: Gateway;
  events: Envelope[];
  sim: (...action: string[]) => Promise<string[]>;
  simExit: (badge: string) => Promise<string[]>;
  stateDir: string;
}

async function startGateway(
  options: {
    stateDir?: string;
    config?: Partial<GatewayConfig>;
    clockProbe?: ClockProbe;
    credentials?: Record<string, unknown>[];
  } = {},
): Promise<Started> {
  const site = uniqueSite('gwt');
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'idg-gwt-'));
  const gateway = new Gateway({
    config: testGatewayConfig(site, stateDir, options.config),
    log: silentLogger,
    clockProbe: options.clockProbe,
  });
  gateway.credentials.replace(
    (options.credentials as never) ?? [
      { badge: ada.badge, person: ada.person, name: 'Ada', status: 'active', totpSecret: ada.secret },
    ],
    Date.now(),
  );
  const events: Envelope[] = [];
  gateway.bus.on('test', 'recorded', (e) => events.push(e));
  await gateway.start();
  running.push(gateway);
  const socket = gateway.simSocketPath;
  return {
    gateway,
    events,
    stateDir,
    sim: (...action) => runSim({ action, door: 'main', socket }),
    simExit: (badge) => runSim({ action: ['badge', badge], exit: true, door: 'main', socket }),
  };
}

const kinds = (events: Envelope[]) => events.map((e) => e.kind);

function devicesOf(gateway: Gateway) {
  const door = gateway.doors.get('main');
  if (!door) throw new Error('door main is missing');
  return door.devices;
}

afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
});

describe('gateway doors through simulated devices', () => {
  it('opens on request-to-exit without an alarm', async () => {
    const { sim, events } = await startGateway();
    expect(await sim('rex')).toEqual(['granted: unlocked for 5 s']);
    expect(await sim('door', 'open')).toEqual(['door opened']);
    expect(await sim('door', 'close')).toEqual(['door closed']);
    expect(kinds(events)).not.toContain('alarm.raised');
    expect(events.find((e) => e.kind === 'door.unlocked')?.data).toMatchObject({ cause: 'request-to-exit' });
  });

  it('counts occupancy from the entry and exit readers and flags a soft anti-passback violation', async () => {
    const { sim, simExit, events } = await startGateway({
      config: { rooms: [{ id: 'ident-1', antiPassback: 'soft', firstPersonIn: false }] },
    });
    await sim('badge', ada.badge);
    expect(await sim('keypad', totp.generate(ada.secret, Date.now()))).toEqual(['granted: unlocked for 5 s']);
    expect(await simExit(ada.badge)).toEqual(['granted: unlocked for 5 s']);
    expect(await simExit(ada.badge)).toEqual(['granted: unlocked for 5 s']);
    expect(events.filter((e) => e.kind === 'room.occupancy').map((e) => e.data)).toEqual([
      { room: 'ident-1', occupants: 1 },
      { room: 'ident-1', occupants: 0 },
    ]);
    expect(events.filter((e) => e.kind === 'alarm.raised').map((e) => e.data)).toEqual([
      expect.objectContaining({ alarm: 'anti-passback', person: 'ada' }),
    ]);
  });

  it('refuses a code used before a clean restart', async () => {
    const first = await startGateway();
    await first.sim('badge', ada.badge);
    const code = totp.generate(ada.secret, Date.now());
    expect(await first.sim('keypad', code)).toEqual(['granted: unlocked for 5 s']);
    await first.gateway.stop();
    running.splice(running.indexOf(first.gateway), 1);
    const second = await startGateway({ stateDir: first.stateDir });
    await second.sim('badge', ada.badge);
    expect(await second.sim('keypad', code)).toEqual(['denied: code reused']);
  });

  it('refuses every code of the current time step after a crash', async () => {
    const first = await startGateway();
    // The state directory as a crash would leave it: written at start, never closed.
    const crashed = mkdtempSync(join(tmpdir(), 'idg-gwt-crash-'));
    cpSync(first.stateDir, crashed, { recursive: true, filter: (src) => !src.endsWith('sim.sock') });
    // A code of the time step current before the restart: a step that begins while the gateway
    // starts is one it has not refused (its codes cannot have been seen before the crash).
    const beforeRestart = Date.now();
    const second = await startGateway({ stateDir: crashed });
    await second.sim('badge', ada.badge);
    expect(await second.sim('keypad', totp.generate(ada.secret, beforeRestart))).toEqual([
      'denied: code reused',
    ]);
  });

  it('denies entry during a room lockdown and holds doors open during an evacuation', async () => {
    const { gateway, sim, events } = await startGateway();
    gateway.setLockdown(true, 'ident-1');
    expect(await sim('badge', ada.badge)).toEqual(['denied: lockdown']);
    gateway.setLockdown(false, 'ident-1');
    gateway.setEvacuation(true);
    const lock = devicesOf(gateway).lock as SimulatedLockRelay;
    expect(lock.state).toBe('unlocked');
    expect(await sim('door', 'open')).toEqual(['door opened']);
    gateway.setEvacuation(false);
    expect(lock.state).toBe('locked');
    expect(kinds(events).filter((k) => k.endsWith('.changed'))).toEqual([
      'lockdown.changed',
      'lockdown.changed',
      'evacuation.changed',
      'evacuation.changed',
    ]);
    expect(() => gateway.setLockdown(true, 'no-such-room')).toThrow(
      /unknown room "no-such-room"; rooms: ident-1/,
    );
  });

  it('refuses TOTP entry while the clock is unsynchronised and raises an alarm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-ntp-'));
    const file = join(dir, 'status');
    writeFileSync(file, 'unsynchronised\n');
    const { sim, events, gateway } = await startGateway({
      config: {
        policy: testPolicy({
          clockSync: { source: 'file', file, maxAgeSeconds: 600, checkIntervalSeconds: 60 },
        }),
      },
    });
    expect(await sim('badge', ada.badge)).toEqual(['denied: clock unsynchronised']);
    // Alarm events go out once the alarm conditions file holds them.
    await gateway.drained();
    expect(events.find((e) => e.kind === 'alarm.raised')?.data).toMatchObject({
      alarm: 'clock-unsynchronised',
    });
    writeFileSync(file, 'synchronised\n');
    await gateway.clockSync.check();
    expect(await sim('badge', ada.badge)).toEqual(['awaiting code (20 s)']);
    await gateway.drained();
    expect(
      events.find((e) => e.kind === 'alarm.cleared' && e.data.alarm === 'clock-unsynchronised'),
    ).toBeDefined();
  });

  it('raises a device-fault alarm when a device fails and clears it when it is back', async () => {
    const { gateway, events } = await startGateway();
    const reader = devicesOf(gateway).entryReader as SimulatedBadgeReader;
    // What the start sent is not this test's.
    await gateway.drained();
    const before = events.length;
    reader.setFault('USB device disappeared');
    reader.setFault('USB device disappeared');
    reader.setFault(undefined);
    // Alarm events go out once the alarm conditions file holds them.
    await gateway.drained();
    const alarms = events.slice(before).filter((e) => e.kind.startsWith('alarm.'));
    expect(alarms.map((e) => [e.kind, e.data])).toEqual([
      [
        'alarm.raised',
        expect.objectContaining({
          alarm: 'device-fault',
          key: 'device-fault:main:entry-reader',
          severity: 'warning',
        }),
      ],
      [
        'alarm.cleared',
        expect.objectContaining({ alarm: 'device-fault', key: 'device-fault:main:entry-reader' }),
      ],
    ]);
  });

  it('puts a door into its fail mode with an alarm when deciding throws, and keeps running', async () => {
    const { gateway, sim, events } = await startGateway();
    const original = gateway.credentials.findByBadge.bind(gateway.credentials);
    gateway.credentials.findByBadge = () => {
      throw new Error('cache exploded');
    };
    expect(await sim('badge', ada.badge)).toEqual(['ignored: internal error; door set to its fail mode']);
    expect(events.find((e) => e.kind === 'alarm.raised')?.data).toMatchObject({
      alarm: 'internal-error',
      detail: 'cache exploded',
    });
    expect((devicesOf(gateway).lock as SimulatedLockRelay).state).toBe('locked');
    gateway.credentials.findByBadge = original;
    expect(await sim('badge', ada.badge)).toEqual(['awaiting code (20 s)']);
  });

  it('warns about a requirement that lapses soon, at start', async () => {
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    const { events } = await startGateway({
      config: { policy: testPolicy({ compliance: { trainingMaxDays: 365, warnDays: 30 } }) },
      credentials: [
        {
          badge: ada.badge,
          person: ada.person,
          name: 'Ada',
          status: 'active',
          totpSecret: ada.secret,
          trainingOn: day(350),
        },
      ],
    });
    expect(events.find((e) => e.kind === 'compliance.expiring')?.data).toEqual({
      person: 'ada',
      requirement: 'security-training',
      expiresOn: day(350 - 365),
      daysLeft: 15,
    });
  });
});
