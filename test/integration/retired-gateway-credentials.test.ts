import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { retireGateway } from '../../src/dashboard/gateway-retirement.js';
import { silentLogger } from '../../src/lib/logger.js';
import { topics } from '../../src/protocol/topics.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { until } from '../helpers/wait.js';

/**
 * A retired gateway's credential set (names, badges, TOTP secrets, encrypted to the key a stolen
 * gateway holds) does not stay retained on the broker: the dashboard deletes it when it hears of
 * the retirement, and a dashboard starting later deletes one the broker still (or again) holds.
 */
describe("a retired gateway's retained credential set", () => {
  let system: TestSystem;
  let topic: string;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    system = await startTestSystem();
    topic = topics.credentials(system.site, 'gw-1');
  }, 120_000);
  afterAll(async () => {
    for (const client of clients) await client.endAsync();
    await system?.stop();
  });

  async function client(name: string): Promise<MqttClient> {
    const made = await connectAsync(mqttUrl(), { clientId: `idg-${name}-${system.site}`, clean: true });
    clients.push(made);
    return made;
  }

  /**
   * What a fresh subscriber gets retained on the topic: the broker sends retained messages before
   * the marker published after the subscription, which comes back to the same client.
   */
  async function retained(): Promise<Buffer[]> {
    const fresh = await client(`fresh-${clients.length}`);
    const marker = `identgate-test/${system.site}/marker-${clients.length}`;
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve) =>
      fresh.on('message', (t, payload) => (t === marker ? resolve() : got.push(payload))),
    );
    await fresh.subscribeAsync([topic, marker], { qos: 1 });
    await fresh.publishAsync(marker, 'end', { qos: 1 });
    await done;
    return got;
  }

  const cleared = async () =>
    (await system.dashboard.audit.recent({ action: 'gateway.credentials-cleared' })).map((row) => ({
      actor: row.actor,
      target: row.target,
    }));

  it('is deleted from the broker once the gateway is retired, and the deletion audited', async () => {
    expect((await retained())[0]?.length).toBeGreaterThan(0);
    const watcher = await client('watcher');
    const deleted = new Promise<void>((resolve) =>
      watcher.on('message', (t, payload) => {
        if (t === topic && payload.length === 0) resolve();
      }),
    );
    await watcher.subscribeAsync(topic, { qos: 1 });
    await retireGateway(
      system.dashboard.pool,
      system.dashboard.alarms,
      { site: system.site, gateway: 'gw-1', reason: 'stolen from the ident center', actor: 'cli:test' },
      silentLogger,
    );
    await deleted;
    expect(await retained()).toEqual([]);
    // The deletion reaches the broker inside the transaction that then writes the audit entry.
    await until(async () => (await cleared()).length > 0, 'the audited deletion');
    expect(await cleared()).toEqual([{ actor: 'system', target: `${system.site}/gw-1` }]);
  });

  it('is deleted by a dashboard starting later when the broker holds it again, audited once', async () => {
    // A broker restored from its persistence file, or a set of an instance that had not heard.
    const stale = await client('stale');
    await stale.publishAsync(topic, Buffer.from('an old sealed set'), { qos: 1, retain: true });
    expect(await retained()).toEqual([Buffer.from('an old sealed set')]);
    const later = new Dashboard({
      config: {
        kind: 'dashboard',
        http: { host: '127.0.0.1', port: 0 },
        database: { url: system.databaseUrl, poolSize: 2 },
        mqtt: { url: mqttUrl(), clientId: `idg-dash-later-${system.site}` },
        ingest: { sites: [] },
        gateways: [],
        keys: {},
      },
      log: silentLogger,
    });
    try {
      await later.start();
      expect(await retained()).toEqual([]);
    } finally {
      await later.stop();
    }
    expect(await cleared()).toHaveLength(1);
  });
});
