import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { connectAsync } from 'mqtt';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { DashboardConfig } from '../../src/config/dashboard-config.js';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { Gateway } from '../../src/gateway/gateway.js';
import type { GatewayOptions } from '../../src/gateway/gateway-options.js';
import { silentLogger } from '../../src/lib/logger.js';
import { type Envelope, SCHEMA_VERSION, signBatch, signEnvelope } from '../../src/protocol/envelope.js';
import { exportPrivateKeyPem, exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { spawnChild, stopChild } from '../helpers/child-process.js';
import { flakyDisk } from '../helpers/flaky-disk.js';
import { createTestDatabase, requireTool, testLogger, uniqueSite } from '../helpers/services.js';
import { testGatewayConfig } from '../helpers/system.js';
import { startTestBroker, type TestBroker } from '../helpers/test-broker.js';

/**
 * Access events are evidence: whatever fails between a gateway and PostgreSQL, every event the
 * gateway journaled ends up stored exactly once. Each test ends by comparing the exact set of
 * event ids and sequence numbers in the database with what the gateway produced.
 */
const BURST = 5000;
// Gaps (events a broker dropped, e.g. beyond Mosquitto's default max_queued_messages) are repaired
// by resends, which are commands: every scenario runs with a central key.
const central = generateSigningKeyPair();
const centralPublic = exportPublicKey(central.publicKey);
const centralKeyFile = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'idg-central-'));
  const file = join(dir, 'central.pem');
  writeFileSync(file, exportPrivateKeyPem(central.privateKey), { mode: 0o600 });
  return file;
})();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function dashboardConfig(
  site: string,
  databaseUrl: string,
  brokerUrl: string,
  trust: DashboardConfig['gateways'],
): DashboardConfig {
  return {
    kind: 'dashboard',
    http: { host: '127.0.0.1', port: 0 },
    database: { url: databaseUrl, poolSize: 4 },
    mqtt: { url: brokerUrl, clientId: `idg-dash-${site}` },
    ingest: { sites: [site] },
    gateways: trust,
    keys: { signing: { file: centralKeyFile } },
  };
}

async function database() {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanups.push(async () => {
    await pool.end();
    await db.drop();
  });
  return { url: db.url, pool };
}

/** Waits until the database holds every sequence number up to `seq` for the gateway. */
async function untilStored(
  pool: pg.Pool,
  site: string,
  gateway: string,
  seq: number,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM event_sequences WHERE site = $1 AND gateway = $2 AND seq <= $3',
      [site, gateway, seq],
    );
    if (Number(result.rows[0]?.n) >= seq) return;
    if (Date.now() > deadline) throw new Error(`only ${result.rows[0]?.n} of ${seq} events stored`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** 0 lost, 0 duplicated: the stored ids are exactly the expected ones, numbered 1…n without holes. */
async function expectExactly(
  pool: pg.Pool,
  site: string,
  gateway: string,
  expected: Map<number, string>,
  upTo: number,
): Promise<void> {
  const rows = await pool.query<{ id: string; seq: string }>(
    'SELECT id, seq FROM events WHERE site = $1 AND gateway = $2 AND seq <= $3 ORDER BY seq',
    [site, gateway, upTo],
  );
  const stored = rows.rows.map((r) => ({ id: r.id, seq: Number(r.seq) }));
  expect(new Set(stored.map((r) => r.id)).size).toBe(stored.length);
  expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
  for (const [seq, id] of expected) if (seq <= upTo) expect(stored[seq - 1]?.id, `event ${seq}`).toBe(id);
}

function burst(gateway: Gateway, count: number): void {
  for (let i = 0; i < count; i++) gateway.record({ kind: 'door.locked', data: { door: 'main' } });
}

async function inProcessGateway(site: string, brokerUrl: string, outboxDisk?: GatewayOptions['outboxDisk']) {
  const gateway = new Gateway({
    config: testGatewayConfig(site, mkdtempSync(join(tmpdir(), 'idg-fault-')), {
      mqtt: { url: brokerUrl, clientId: `idg-gw-${site}` },
      central: { publicKey: centralPublic },
      heartbeatSeconds: 1,
    }),
    log: testLogger(),
    ...(outboxDisk ? { outboxDisk } : {}),
  });
  const produced = new Map<number, string>();
  gateway.bus.on('test', 'recorded', (e) => produced.set(e.seq, e.id));
  return { gateway, produced };
}

/**
 * Each scenario runs against a broker of its own (Mosquitto configured as production should be:
 * persistence on, no queue limit), so that a restart or a backlog in one test cannot disturb the
 * others and the machine's shared broker is left alone.
 */
async function ownBroker(): Promise<TestBroker> {
  const broker = await startTestBroker();
  cleanups.push(() => broker.stop());
  // The fault tests run against the real Mosquitto, never the in-process fallback.
  requireTool(broker.kind === 'mosquitto', 'Mosquitto', 'mosquitto');
  return broker;
}

describe('messaging faults: nothing lost, nothing stored twice', () => {
  it('survives a broker restart during a burst of 5,000 events', async () => {
    const broker = await ownBroker();
    const site = uniqueSite('brk');
    const db = await database();
    const { gateway, produced } = await inProcessGateway(site, broker.url);
    const dashboard = new Dashboard({
      config: dashboardConfig(site, db.url, broker.url, [{ site, id: 'gw-1', publicKey: gateway.publicKey }]),
      log: testLogger(),
      signingKey: central.privateKey,
      gapScanMs: 500,
      gapGraceMs: 1000,
      gapResendMs: 3000,
    });
    await dashboard.start();
    cleanups.push(() => dashboard.stop());
    await gateway.start();
    cleanups.push(() => gateway.stop());

    let stored = 0;
    const restarted = new Promise<void>((resolve) => {
      dashboard.ingest.outcomes.on(() => {
        stored += 1;
        if (stored === 1000) broker.restart().then(resolve, resolve);
      });
    });
    burst(gateway, BURST);
    await restarted;
    const last = gateway.lastSequence;
    await untilStored(db.pool, site, 'gw-1', last);
    await expectExactly(db.pool, site, 'gw-1', produced, last);
  });

  it('survives the database connections being killed during a burst', async () => {
    const site = uniqueSite('pgk');
    const broker = await ownBroker();
    const db = await database();
    const { gateway, produced } = await inProcessGateway(site, broker.url);
    const dashboard = new Dashboard({
      config: dashboardConfig(site, db.url, broker.url, [{ site, id: 'gw-1', publicKey: gateway.publicKey }]),
      log: testLogger(),
      signingKey: central.privateKey,
      gapScanMs: 500,
      gapGraceMs: 1000,
      gapResendMs: 3000,
    });
    await dashboard.start();
    cleanups.push(() => dashboard.stop());
    await gateway.start();
    cleanups.push(() => gateway.stop());

    let stored = 0;
    const killed = new Promise<number>((resolve) => {
      dashboard.ingest.outcomes.on(() => {
        stored += 1;
        if (stored === 1500) {
          db.pool
            .query<{ n: number }>(
              `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'identgate-dashboard'`,
            )
            .then(
              (r) => resolve(r.rows[0]?.n ?? 0),
              () => resolve(-1),
            );
        }
      });
    });
    burst(gateway, BURST);
    expect(await killed).toBeGreaterThan(0);
    const last = gateway.lastSequence;
    await untilStored(db.pool, site, 'gw-1', last);
    await expectExactly(db.pool, site, 'gw-1', produced, last);
  });

  it("holds events while the gateway's disk refuses writes, publishes none unwritten, and delivers all afterwards", async () => {
    const site = uniqueSite('dsk');
    const broker = await ownBroker();
    const db = await database();
    const { disk, openFile } = flakyDisk(false);
    const { gateway, produced } = await inProcessGateway(site, broker.url, {
      openFile,
      retryMs: { first: 20, longest: 100 },
    });
    const dashboard = new Dashboard({
      config: dashboardConfig(site, db.url, broker.url, [{ site, id: 'gw-1', publicKey: gateway.publicKey }]),
      log: testLogger(),
      signingKey: central.privateKey,
    });
    await dashboard.start();
    cleanups.push(() => dashboard.stop());
    const alarmSeen = new Promise<void>((resolve) => {
      dashboard.hub.subscribe({
        push: () => true,
        pushAlarms: (alarms) => {
          if (alarms.some((a) => a.alarm === 'outbox-write-failed' && a.clearedAt !== null)) resolve();
          return true;
        },
        close: () => undefined,
      });
    });
    await gateway.start();
    cleanups.push(() => gateway.stop());
    await gateway.drained();
    const before = gateway.lastSequence;
    // What the broker carries from the gateway while its disk refuses writes: nothing appended
    // since (an event is published only once it is on disk).
    const watcher = await connectAsync(broker.url, { clientId: `idg-watch-${site}` });
    cleanups.push(() => watcher.endAsync());
    let publishedUnwritten = 0;
    watcher.on('message', (_topic, payload) => {
      const body = JSON.parse(payload.toString()) as { seq?: number; events?: Array<{ seq: number }> };
      const seqs = body.events ? body.events.map((e) => e.seq) : [body.seq ?? 0];
      if (disk.failing && seqs.some((seq) => seq > before)) publishedUnwritten += 1;
    });
    await watcher.subscribeAsync(topics.events(site, 'gw-1'), { qos: 1 });

    // The disk fills up in the middle of a burst.
    disk.failing = true;
    burst(gateway, 200);
    while (disk.refused < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    // Not one of them was published: none is written.
    const published = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM events WHERE site = $1 AND seq > $2',
      [site, before],
    );
    expect(published.rows[0]?.n).toBe(0);
    disk.failing = false;
    // The alarm (raised while the disk refused, itself waiting in the outbox) and its clearing
    // reach the dashboard, with every event of the burst.
    await alarmSeen;
    const last = gateway.lastSequence;
    expect(last).toBeGreaterThan(before + 200);
    await untilStored(db.pool, site, 'gw-1', last);
    await expectExactly(db.pool, site, 'gw-1', produced, last);
    expect(publishedUnwritten).toBe(0);
    const alarms = await db.pool.query(
      `SELECT alarm, severity, cleared_at IS NOT NULL AS cleared FROM alarms WHERE site = $1 AND alarm = 'outbox-write-failed'`,
      [site],
    );
    expect(alarms.rows).toEqual([{ alarm: 'outbox-write-failed', severity: 'critical', cleared: true }]);
  });

  it('recovers a gateway killed with SIGKILL mid-burst from its journal', async () => {
    const site = uniqueSite('gwk');
    const broker = await ownBroker();
    const db = await database();
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-gwkill-'));
    const config = testGatewayConfig(site, stateDir, {
      central: { publicKey: centralPublic },
      heartbeatSeconds: 1,
      mqtt: { url: broker.url, clientId: `idg-gw-${site}` },
    });
    // The gateway's key exists before the child starts, so the dashboard can trust it.
    const probe = new Gateway({ config, log: silentLogger });
    const dashboard = new Dashboard({
      config: dashboardConfig(site, db.url, broker.url, [{ site, id: 'gw-1', publicKey: probe.publicKey }]),
      log: testLogger(),
      signingKey: central.privateKey,
      gapScanMs: 500,
      gapGraceMs: 1000,
      gapResendMs: 3000,
    });
    await dashboard.start();
    cleanups.push(() => dashboard.stop());

    const durable = new Map<number, string>();
    const first = spawnChild(
      'gateway-child.ts',
      { IDG_CHILD_CONFIG: JSON.stringify(config), IDG_BURST: String(BURST) },
      (line) => {
        const [word, seq, id] = line.split(' ');
        if (word === 'durable') durable.set(Number(seq), id as string);
      },
    );
    await waitFor(() => durable.size >= 1500, 60_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    let ready = -1;
    let resent = -1;
    const second = spawnChild(
      'gateway-child.ts',
      { IDG_CHILD_CONFIG: JSON.stringify(config), IDG_BURST: '0' },
      (line) => {
        if (line.startsWith('ready ')) ready = Number(line.slice(6));
        if (line.startsWith('resent ')) resent = Number(line.slice(7));
      },
    );
    cleanups.push(() => stopChild(second));
    await waitFor(() => ready >= 0, 60_000);
    // The kill came mid-burst: the journal held events the broker had not acknowledged, and the
    // second process sent them.
    expect(resent).toBeGreaterThan(0);
    // Everything the first process journaled, and the second's start-up event, arrive exactly once.
    await untilStored(db.pool, site, 'gw-1', ready);
    await expectExactly(db.pool, site, 'gw-1', durable, ready);
  });

  it('recovers a dashboard killed mid-burst: the broker redelivers what was not committed', async () => {
    const site = uniqueSite('dbk');
    const broker = await ownBroker();
    const db = await database();
    const { gateway, produced } = await inProcessGateway(site, broker.url);
    const config = dashboardConfig(site, db.url, broker.url, [
      { site, id: 'gw-1', publicKey: gateway.publicKey },
    ]);
    let first: ChildProcess | undefined;
    let readyFirst = false;
    first = spawnChild('dashboard-child.ts', { IDG_CHILD_CONFIG: JSON.stringify(config) }, (line) => {
      if (line === 'ready') readyFirst = true;
    });
    await waitFor(() => readyFirst, 60_000);
    await gateway.start();
    cleanups.push(() => gateway.stop());
    burst(gateway, BURST);
    await waitFor(async () => (await countStored(db.pool, site)) >= 1500, 60_000);
    first.kill('SIGKILL');
    await new Promise((resolve) => first?.once('exit', resolve));
    first = undefined;
    // The kill came mid-burst: part of it was still to be stored, by the second process.
    expect(await countStored(db.pool, site)).toBeLessThan(BURST);
    let readySecond = false;
    const second = spawnChild('dashboard-child.ts', { IDG_CHILD_CONFIG: JSON.stringify(config) }, (line) => {
      if (line === 'ready') readySecond = true;
    });
    cleanups.push(() => stopChild(second));
    await waitFor(() => readySecond, 60_000);
    const last = gateway.lastSequence;
    await untilStored(db.pool, site, 'gw-1', last);
    await expectExactly(db.pool, site, 'gw-1', produced, last);
  });

  it('quarantines 1,000 fuzzed payloads and keeps ingesting', async () => {
    const site = uniqueSite('fuz');
    const broker = await ownBroker();
    const db = await database();
    const { gateway, produced } = await inProcessGateway(site, broker.url);
    const dashboard = new Dashboard({
      config: dashboardConfig(site, db.url, broker.url, [{ site, id: 'gw-1', publicKey: gateway.publicKey }]),
      log: testLogger(),
    });
    await dashboard.start();
    cleanups.push(() => dashboard.stop());
    await gateway.start();
    cleanups.push(() => gateway.stop());
    const genuine = gateway.record({ kind: 'door.opened', data: { door: 'main', authorised: true } });
    await untilStored(db.pool, site, 'gw-1', genuine.seq);

    const forger = generateSigningKeyPair().privateKey;
    const ids = new Uuidv7Generator();
    const gatewayKey = (gateway as unknown as { identity: { privateKey: import('node:crypto').KeyObject } })
      .identity.privateKey;
    const base = (): Envelope => ({ ...genuine }) as Envelope;
    const payload = fc.oneof(
      fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
      fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
      fc
        .string({ minLength: 70_000, maxLength: 70_100 })
        .map((s) => Buffer.from(JSON.stringify({ ...base(), data: { door: s } }))),
      fc.constant(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])),
      fc
        .record({ door: fc.string({ maxLength: 80 }) })
        .map((data) => Buffer.from(JSON.stringify({ ...base(), id: ids.next(), data }))),
      fc
        .integer({ min: 1, max: 1000 })
        .map((seq) =>
          Buffer.from(
            JSON.stringify(
              signEnvelope({ ...base(), id: ids.next(), seq, v: SCHEMA_VERSION } as Envelope, forger),
            ),
          ),
        ),
      fc
        .constant(null)
        .map(() => Buffer.from(JSON.stringify({ ...base(), data: { door: 'main', authorised: false } }))),
      fc
        .constant(null)
        .map(() =>
          Buffer.from(
            JSON.stringify(
              signEnvelope(
                { ...base(), id: ids.next(), kind: 'door.locked', data: { door: 'main' } } as Envelope,
                gatewayKey,
              ),
            ),
          ),
        ),
      // Batches: each of these is refused whole (or holds one event, refused), one outcome apiece.
      fc
        .record({
          v: fc.oneof(fc.constant(SCHEMA_VERSION), fc.jsonValue()),
          site: fc.oneof(fc.constant(site), fc.string({ maxLength: 20 })),
          gateway: fc.oneof(fc.constant('gw-1'), fc.string({ maxLength: 20 })),
          events: fc.oneof(fc.array(fc.jsonValue(), { maxLength: 5 }), fc.jsonValue()),
          sig: fc.oneof(fc.string({ minLength: 86, maxLength: 86 }), fc.jsonValue()),
        })
        .map((batch) => Buffer.from(JSON.stringify(batch))),
      fc.integer({ min: 1, max: 20 }).map((count) =>
        Buffer.from(
          JSON.stringify(
            signBatch(
              site,
              'gw-1',
              Array.from({ length: count }, () => ({ ...base(), id: ids.next() }) as Envelope),
              forger,
            ),
          ),
        ),
      ),
      fc.constant(null).map(() => {
        const batch = signBatch(site, 'gw-1', [{ ...base(), id: ids.next(), seq: 10_000_000 }], gatewayKey);
        return Buffer.from(JSON.stringify({ ...batch, events: [{ ...base(), id: ids.next() }] }));
      }),
      fc
        .constant(null)
        .map(() =>
          Buffer.from(
            JSON.stringify(
              signBatch(
                site,
                'gw-1',
                [
                  signEnvelope(
                    { ...base(), id: ids.next(), kind: 'door.locked', data: { door: 'main' } } as Envelope,
                    gatewayKey,
                  ),
                ],
                gatewayKey,
              ),
            ),
          ),
        ),
    );
    const samples = fc.sample(payload, { numRuns: 1000 });
    const raw = await connectAsync(broker.url, { clientId: `idg-fuzz-${site}` });
    cleanups.push(() => raw.endAsync());
    let quarantined = 0;
    dashboard.ingest.outcomes.on((o) => {
      if (o.status === 'quarantined') quarantined += 1;
    });
    for (const sample of samples) await raw.publishAsync(topics.events(site, 'gw-1'), sample, { qos: 1 });
    await waitFor(() => quarantined >= 1000, 120_000);
    expect(quarantined).toBe(1000);
    // Nothing from the fuzzer was stored: every stored event is one the gateway itself produced.
    const stored = await db.pool.query<{ id: string }>('SELECT id FROM events WHERE site = $1', [site]);
    const ours = new Set(produced.values());
    expect(stored.rows.filter((r) => !ours.has(r.id))).toEqual([]);
    const after = gateway.record({ kind: 'door.closed', data: { door: 'main', openMs: 1000 } });
    await untilStored(db.pool, site, 'gw-1', after.seq);
    // And every genuine event is there, once.
    await expectExactly(db.pool, site, 'gw-1', produced, after.seq);
    const alarm = await db.pool.query(
      `SELECT sum(occurrences)::int AS n FROM alarms WHERE alarm = 'event-quarantined'`,
    );
    expect(alarm.rows[0]?.n).toBe(1000);
  });
});

async function countStored(pool: pg.Pool, site: string): Promise<number> {
  const result = await pool
    .query<{ n: string }>('SELECT count(*) AS n FROM event_sequences WHERE site = $1', [site])
    .catch(() => ({ rows: [{ n: '0' }] }));
  return Number(result.rows[0]?.n ?? 0);
}

/** Polls a condition: the outcome lives in another process or in the database. */
async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
