import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { createTestDatabase, mqttUrl, uniqueSite } from '../helpers/services.js';

/**
 * The central side notices gateways that go quiet: a shutdown (warning) or no sign of life for
 * longer than `ingest.offlineAfterSeconds` (critical) raises `gateway-offline`, once; the next
 * sign of life clears it. Gateways never heard from, or silent for more than a week, are left
 * alone. Driven through the real ingest with the gateways' own event times.
 */
const keys = generateSigningKeyPair();
const site = uniqueSite('wd');
const MINUTE = 60_000;
let dashboard: Dashboard;
let drop: () => Promise<void>;
const seq = new Map<string, number>();
const pushed: AlarmView[] = [];

beforeAll(async () => {
  const db = await createTestDatabase();
  drop = db.drop;
  const publicKey = exportPublicKey(keys.publicKey);
  dashboard = new Dashboard({
    config: {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0 },
      database: { url: db.url, poolSize: 4 },
      mqtt: { url: mqttUrl(), clientId: `idg-dash-${site}` },
      ingest: { sites: [site], offlineAfterSeconds: 180 },
      gateways: ['gw-quiet', 'gw-stopped', 'gw-alive', 'gw-never', 'gw-gone'].map((id) => ({
        site,
        id,
        publicKey,
      })),
      keys: {},
    },
    log: silentLogger,
  });
  await dashboard.start();
  dashboard.hub.subscribe({
    push: () => true,
    pushAlarms: (alarms) => {
      pushed.push(...alarms);
      return true;
    },
    close: () => undefined,
  });
});

afterAll(async () => {
  await dashboard?.stop();
  await drop?.();
});

async function life(
  gateway: string,
  agoMs: number,
  kind: 'gateway.heartbeat' | 'gateway.offline' | 'gateway.online',
) {
  const data =
    kind === 'gateway.heartbeat'
      ? { uptimeS: 1, outboxPending: 0, credentialsVersion: 1 }
      : kind === 'gateway.offline'
        ? { reason: 'shutdown' }
        : { version: 'test', doors: [] };
  const next = (seq.get(gateway) ?? 0) + 1;
  seq.set(gateway, next);
  const envelope = signedEvent(
    { site, gateway, seq: next, time: new Date(Date.now() - agoMs).toISOString(), kind, data },
    keys.privateKey,
  );
  const [outcome] = await dashboard.ingest.process(
    topics.events(site, gateway),
    Buffer.from(JSON.stringify(envelope)),
  );
  expect(outcome?.status).toBe('stored');
}

async function offlineAlarms() {
  const rows = await dashboard.pool.query<{
    gateway: string;
    severity: string;
    open: boolean;
    detail: string;
  }>(
    `SELECT gateway, severity, cleared_at IS NULL AS open, detail FROM alarms
      WHERE alarm = 'gateway-offline' ORDER BY gateway, id`,
  );
  return rows.rows;
}

describe('gateway watchdog', () => {
  it('raises gateway-offline for a gateway gone quiet or shut down, once, and for no other', async () => {
    await life('gw-quiet', 10 * MINUTE, 'gateway.heartbeat');
    await life('gw-stopped', 0, 'gateway.offline');
    await life('gw-alive', 0, 'gateway.heartbeat');
    await life('gw-gone', 30 * 24 * 60 * MINUTE, 'gateway.heartbeat');

    await dashboard.gatewayWatchdog.scan();
    const raised = await offlineAlarms();
    expect(raised.map(({ gateway, severity, open }) => ({ gateway, severity, open }))).toEqual([
      { gateway: 'gw-quiet', severity: 'critical', open: true },
      { gateway: 'gw-stopped', severity: 'warning', open: true },
    ]);
    expect(raised[0]?.detail).toMatch(/no sign of life from .*\/gw-quiet since .* \(more than 180 s\)/);
    expect(raised[1]?.detail).toMatch(/gw-stopped shut down at/);
    expect(pushed.map((a) => a.gateway).sort()).toEqual(['gw-quiet', 'gw-stopped']);

    // Still quiet at the next scan: nothing new raised or pushed.
    await dashboard.gatewayWatchdog.scan();
    expect(await offlineAlarms()).toEqual(raised);
    expect(pushed).toHaveLength(2);
  });

  it('clears the alarm with the next sign of life', async () => {
    await life('gw-quiet', 0, 'gateway.heartbeat');
    await life('gw-stopped', 0, 'gateway.online');
    await dashboard.gatewayWatchdog.scan();
    expect((await offlineAlarms()).map(({ gateway, open }) => ({ gateway, open }))).toEqual([
      { gateway: 'gw-quiet', open: false },
      { gateway: 'gw-stopped', open: false },
    ]);
    expect(pushed).toHaveLength(4);
  });
});
