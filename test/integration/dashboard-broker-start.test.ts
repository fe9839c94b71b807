import type { KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { createLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { OwnMosquitto } from '../helpers/mosquitto.js';
import { createTestDatabase, uniqueSite } from '../helpers/services.js';

/**
 * A dashboard started while its broker is down (maintenance, a broker restarting after the same
 * power cut) waits for it, and meanwhile deletes what has expired and tells a load balancer that
 * it is not fit to serve yet; once the broker answers, the start completes.
 */
describe('a dashboard whose broker is down at start', () => {
  let database: { url: string; drop: () => Promise<void> };
  let broker: OwnMosquitto;
  let dashboard: Dashboard | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    broker = await OwnMosquitto.start();
    await broker.stop();
  });

  afterAll(async () => {
    await dashboard?.stop();
    await broker?.dispose();
    await database?.drop();
  });

  /** A dashboard on the test's broker, and a way to wait for a log message of it. */
  function dashboardOnBroker(signingKey?: KeyObject) {
    const waits: Array<{ msg: string; resolve: () => void }> = [];
    const logged = (msg: string) => new Promise<void>((resolve) => waits.push({ msg, resolve }));
    const site = uniqueSite('dbs');
    const instance = new Dashboard({
      config: {
        kind: 'dashboard',
        http: { host: '127.0.0.1', port: 0 },
        database: { url: database.url, poolSize: 4 },
        mqtt: { url: broker.url, clientId: `idg-dash-${site}` },
        ingest: { sites: [site] },
        gateways: [],
        keys: {},
      },
      log: createLogger({
        level: 'info',
        format: 'json',
        write: (line) => {
          const { msg } = JSON.parse(line) as { msg?: string };
          for (const wait of waits) if (msg?.includes(wait.msg)) wait.resolve();
        },
      }),
      ...(signingKey ? { signingKey } : {}),
    });
    return { instance, logged };
  }

  it('waits for the broker, reporting 503 on /healthz and running retention meanwhile, then starts', async () => {
    const made = dashboardOnBroker(generateSigningKeyPair().privateKey);
    dashboard = made.instance;
    const refused = made.logged('broker connection error');
    const retentionRan = made.logged('retention run finished');
    const started = dashboard.start();
    await refused;

    const health = await fetch(`${dashboard.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: `starting: waiting for the broker at ${broker.url}`,
    });
    // The retention run does not wait for the broker.
    await retentionRan;
    expect((await fetch(`${dashboard.url}/healthz`)).status).toBe(503);

    await broker.restart();
    await started;
    expect((await fetch(`${dashboard.url}/healthz`)).status).toBe(200);
  });

  it('ends a start still waiting for the broker when it is stopped', async () => {
    await broker.stop();
    const { instance: waiting, logged } = dashboardOnBroker();
    const refused = logged('broker connection error');
    const started = waiting.start();
    await refused;
    await waiting.stop();
    await expect(started).rejects.toMatchObject({ code: 'IDG_MQTT_STOPPED' });
  });
});
