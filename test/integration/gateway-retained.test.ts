import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { topics } from '../../src/protocol/topics.js';
import { spawnChild, stopChild } from '../helpers/child-process.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';
import { testGatewayConfig } from '../helpers/system.js';

/**
 * What a real gateway process leaves on the broker for whoever subscribes later: its retained
 * `online` status and each door's state, and, when it dies without a word, the retained `offline`
 * its Last Will carries.
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Seen {
  topic: string;
  body: Record<string, unknown>;
  retained: boolean;
}

/** A newcomer on the broker: what it receives on the topics, and a wait for one that matches. */
async function watcher(subscribeTo: string[]) {
  const client: MqttClient = await mqtt.connectAsync(mqttUrl(), {
    clientId: `idg-watch-${uniqueSite()}`,
    clean: true,
  });
  cleanups.push(() => client.endAsync());
  const seen: Seen[] = [];
  const waiters: Array<{ match: (s: Seen) => boolean; resolve: (s: Seen) => void }> = [];
  client.on('message', (topic, payload, packet) => {
    if (payload.length === 0) return;
    const message = { topic, body: JSON.parse(payload.toString()), retained: packet.retain };
    seen.push(message);
    for (const waiter of waiters.splice(0)) {
      if (waiter.match(message)) waiter.resolve(message);
      else waiters.push(waiter);
    }
  });
  await client.subscribeAsync(subscribeTo, { qos: 1 });
  const next = (match: (s: Seen) => boolean): Promise<Seen> => {
    const found = seen.find(match);
    return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  return { next };
}

describe('a gateway on the broker', () => {
  it('leaves its status and door states retained, and its Last Will says offline when it dies', async () => {
    const site = uniqueSite('ret');
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-retained-'));
    const config = testGatewayConfig(site, stateDir);
    const status = topics.status(site, 'gw-1');
    const door = topics.doorState(site, 'gw-1', 'main');
    // The broker keeps retained messages: cleared afterwards, so that the shared broker holds none.
    cleanups.push(async () => {
      const client = await mqtt.connectAsync(mqttUrl(), { clientId: `idg-clear-${site}` });
      for (const topic of [status, door]) await client.publishAsync(topic, '', { qos: 1, retain: true });
      await client.endAsync();
    });
    const early = await watcher([status, door]);
    const child = spawnChild('gateway-child.ts', { IDG_CHILD_CONFIG: JSON.stringify(config) }, () => {});
    cleanups.push(() => stopChild(child));
    await early.next((s) => s.topic === status && s.body.state === 'online');
    await early.next((s) => s.topic === door && s.body.contact === 'closed');

    // Subscribing after the gateway came up, a newcomer gets both as retained messages.
    const newcomer = await watcher([status, door]);
    expect(await newcomer.next((s) => s.topic === status)).toMatchObject({
      retained: true,
      body: { state: 'online' },
    });
    expect(await newcomer.next((s) => s.topic === door)).toMatchObject({
      retained: true,
      body: { door: 'main', lock: 'locked', contact: 'closed' },
    });

    // A door that changes is published at once.
    await runSim({ action: ['door', 'open'], door: 'main', socket: join(stateDir, 'sim.sock') });
    await early.next((s) => s.topic === door && s.body.contact === 'open');

    // Killed without a word: the broker publishes its Last Will.
    child.kill('SIGKILL');
    await early.next((s) => s.topic === status && s.body.state === 'offline');
    // And keeps it, with the last door state, for whoever comes next.
    const late = await watcher([status, door]);
    expect(await late.next((s) => s.topic === status)).toMatchObject({
      retained: true,
      body: { state: 'offline' },
    });
    expect(await late.next((s) => s.topic === door)).toMatchObject({
      retained: true,
      body: { door: 'main', contact: 'open' },
    });
  });
});
