import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import { DISCONNECTED_KEY, GatewayStatusWatch } from '../../src/dashboard/monitoring/gateway-status-watch.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';

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
let stop: (() => Promise<void>) | undefined;
const seq = new Map<string, number>();
const pushed: AlarmView[] = [];

beforeAll(async () => {
  ({ dashboard, stop } = await startIngestDashboardOnNewDatabase({
    site,
    gateways: [
      'gw-quiet',
      'gw-stopped',
      'gw-alive',
      'gw-never',
      'gw-gone',
      'gw-crashed',
      'gw-old',
      'gw-down',
      'gw-parked',
      'gw-fast',
    ],
    publicKey: keys.publicKey,
    offlineAfterSeconds: 180,
  }));
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
  await stop?.();
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

  it('judges a gateway whose clock runs ahead by when its sign of life arrived', async () => {
    await life('gw-fast', -50 * MINUTE, 'gateway.heartbeat');
    // As if that heartbeat had arrived 10 minutes ago, and nothing since.
    await dashboard.pool.query(
      `UPDATE latest_facts SET occurred_at = occurred_at - interval '10 minutes', seen_at = seen_at - interval '10 minutes'
        WHERE gateway = 'gw-fast' AND facet = 'life'`,
    );
    await dashboard.gatewayWatchdog.scan();
    const fast = (await offlineAlarms()).filter((a) => a.gateway === 'gw-fast');
    expect(fast.map(({ severity, open }) => ({ severity, open }))).toEqual([
      { severity: 'critical', open: true },
    ]);
    await life('gw-fast', 0, 'gateway.heartbeat');
    await dashboard.gatewayWatchdog.scan();
    expect((await offlineAlarms()).filter((a) => a.gateway === 'gw-fast').map((a) => a.open)).toEqual([
      false,
    ]);
  });
});

describe("the broker's word that a gateway's connection is gone", () => {
  /** Resolves with the first alarm pushed to the live streams from now on that `matches`. */
  const nextPushed = (matches: (alarm: AlarmView) => boolean) =>
    new Promise<AlarmView>((resolve) => {
      const off = dashboard.hub.subscribe({
        push: () => true,
        pushAlarms: (alarms) => {
          const found = alarms.find(matches);
          if (found) {
            off();
            resolve(found);
          }
          return true;
        },
        close: () => undefined,
      });
    });
  const disconnected = async (gateway: string) =>
    (
      await dashboard.pool.query<{ severity: string; open: boolean }>(
        `SELECT severity, cleared_at IS NULL AS open FROM alarms WHERE gateway = $1 AND key = $2 ORDER BY id`,
        [gateway, DISCONNECTED_KEY],
      )
    ).rows;

  it("raises a warning as soon as the broker sends a crashed gateway's Last Will, and clears it when it is back", async () => {
    await life('gw-crashed', 20_000, 'gateway.heartbeat');
    const raw = await connectAsync(mqttUrl(), { clientId: `idg-lwt-${site}` });
    try {
      const status = topics.status(site, 'gw-crashed');
      // What the broker publishes for a gateway whose connection it lost: its retained Last Will.
      const raised = nextPushed((a) => a.gateway === 'gw-crashed' && a.clearedAt === null);
      await raw.publishAsync(status, JSON.stringify({ state: 'offline', time: new Date().toISOString() }), {
        qos: 1,
        retain: true,
      });
      expect(await raised).toMatchObject({ alarm: 'gateway-offline', severity: 'warning', state: 'active' });
      expect((await raised).detail).toMatch(
        /broker reports the connection to .*\/gw-crashed lost \(its Last Will/,
      );
      expect(await disconnected('gw-crashed')).toEqual([{ severity: 'warning', open: true }]);

      const cleared = nextPushed((a) => a.gateway === 'gw-crashed' && a.clearedAt !== null);
      await raw.publishAsync(status, JSON.stringify({ state: 'online', time: new Date().toISOString() }), {
        qos: 1,
        retain: true,
      });
      await cleared;
      expect(await disconnected('gw-crashed')).toEqual([{ severity: 'warning', open: false }]);
      await raw.publishAsync(status, '', { qos: 1, retain: true });
    } finally {
      await raw.endAsync();
    }
  });

  it('leaves alone gateways long silent, shut down, never heard from or unknown, and refuses malformed statuses', async () => {
    await life('gw-old', 10 * MINUTE, 'gateway.heartbeat');
    await life('gw-down', 0, 'gateway.offline');
    const lines: string[] = [];
    const watch = new GatewayStatusWatch({
      mqtt: { url: mqttUrl(), clientId: 'unused' },
      sites: [site],
      pool: dashboard.pool,
      alarms: dashboard.alarms,
      log: createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) }),
      offlineAfterMs: 180_000,
    });
    const offline = Buffer.from(JSON.stringify({ state: 'offline' }));
    // Silent for longer than the watchdog's 180 s (its critical alarm is the one), shut down
    // cleanly (its own warning), never heard from, not a configured gateway.
    for (const gateway of ['gw-old', 'gw-down', 'gw-never', 'gw-stranger'])
      await watch.onStatus(topics.status(site, gateway), offline);
    for (const gateway of ['gw-old', 'gw-down', 'gw-never', 'gw-stranger'])
      expect(await disconnected(gateway)).toEqual([]);
    for (const payload of ['{"state":"gone"}', 'not json', 'null', '[]']) {
      await watch.onStatus(topics.status(site, 'gw-alive'), Buffer.from(payload));
    }
    await watch.onStatus('identgate/../status', offline);
    expect(await disconnected('gw-alive')).toEqual([]);
    expect(lines.filter((line) => line.includes('security: malformed gateway status')).length).toBe(4);
  });

  it("clears the broker's warning when the gateway's shutdown event explains it, leaving the shutdown's own", async () => {
    await life('gw-parked', 0, 'gateway.heartbeat');
    const watch = new GatewayStatusWatch({
      mqtt: { url: mqttUrl(), clientId: 'unused' },
      sites: [site],
      pool: dashboard.pool,
      alarms: dashboard.alarms,
      log: silentLogger,
      offlineAfterMs: 180_000,
    });
    // The retained `offline` a clean shutdown publishes can come before its gateway.offline event.
    await watch.onStatus(topics.status(site, 'gw-parked'), Buffer.from(JSON.stringify({ state: 'offline' })));
    expect(await disconnected('gw-parked')).toEqual([{ severity: 'warning', open: true }]);
    await life('gw-parked', 0, 'gateway.offline');
    await dashboard.gatewayWatchdog.scan();
    expect(await disconnected('gw-parked')).toEqual([{ severity: 'warning', open: false }]);
    const own = await dashboard.pool.query<{ key: string; severity: string; open: boolean }>(
      `SELECT key, severity, cleared_at IS NULL AS open FROM alarms WHERE gateway = 'gw-parked' AND key <> $1`,
      [DISCONNECTED_KEY],
    );
    expect(own.rows).toEqual([{ key: 'gateway-offline', severity: 'warning', open: true }]);
  });
});
