import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttTlsOptions } from '../../src/config/tls-material.js';
import { topics } from '../../src/protocol/topics.js';
import { workstationCommandTopic } from '../../src/protocol/workstation-commands.js';
import { requireTool, uniqueSite } from '../helpers/services.js';
import { createTestPki, type IssuedFiles, type TestPki } from '../helpers/test-pki.js';
import { MOSQUITTO, startTlsMosquitto, type TlsMosquitto } from '../helpers/tls-mosquitto.js';

/**
 * Mutual TLS and the generated ACL on a real Mosquitto: who may connect, publish and receive.
 * Mosquitto acknowledges a forbidden MQTT 3.1.1 publish and drops it, so each denial is shown by
 * non-delivery, with a permitted message from the same client sent after it as the control:
 * Mosquitto keeps one client's messages in order, so once the control arrives, the forbidden
 * message would have arrived before it. Where the client may publish nothing that serves, another
 * client's message sent after the forbidden one's PUBACK is the control: Mosquitto queues a QoS 1
 * message for its subscribers before it acknowledges it.
 */
const site = uniqueSite('acl');
let pki: TestPki;
let broker: TlsMosquitto;
const files: Record<string, IssuedFiles> = {};
const clients: MqttClient[] = [];

async function connectAs(tls: IssuedFiles | { ca: string }, extra: IClientOptions = {}): Promise<MqttClient> {
  const client = await connectAsync(broker.url, {
    ...mqttTlsOptions(tls, broker.url),
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...extra,
  });
  clients.push(client);
  return client;
}

/** Collects what a client receives. */
function inbox(client: MqttClient): Array<{ topic: string; payload: string }> {
  const received: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  return received;
}

function arrival(client: MqttClient, topic: string, payload: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${payload} on ${topic} did not arrive`)), timeoutMs);
    const onMessage = (t: string, p: Buffer) => {
      if (t !== topic || p.toString() !== payload) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve();
    };
    client.on('message', onMessage);
  });
}

describe('mutual TLS and the ACL on Mosquitto', () => {
  requireTool(MOSQUITTO, 'mosquitto', 'mosquitto');
  beforeAll(async () => {
    pki = await createTestPki();
    await pki.issue('broker', 'localhost', ['127.0.0.1']);
    files.gatewayA = await pki.issue('gateway', `${site}/gw-a`);
    files.gatewayB = await pki.issue('gateway', `${site}/gw-b`);
    files.workstation = await pki.issue('workstation', `${site}/ws-1`);
    files.dashboard = await pki.issue('dashboard', 'central-1', ['127.0.0.1']);
    broker = await startTlsMosquitto(pki);
  }, 120_000);

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('refuses a client without a certificate', async () => {
    await expect(connectAs({ ca: pki.caCert })).rejects.toThrow();
  });

  it('refuses a certificate from another CA', async () => {
    const stranger = await createTestPki();
    const foreign = await stranger.issue('gateway', `${site}/gw-a`);
    await expect(connectAs({ ...foreign, ca: pki.caCert })).rejects.toThrow();
  });

  it('lets the dashboard receive every gateway event and send commands a gateway receives', async () => {
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.subscribeAsync('identgate/v1/+/+/events', { qos: 1 });
    const gateway = await connectAs(files.gatewayA as IssuedFiles);
    await gateway.subscribeAsync(topics.commands(site, 'gw-a'), { qos: 1 });

    const event = arrival(dashboard, topics.events(site, 'gw-a'), 'event-1');
    await gateway.publishAsync(topics.events(site, 'gw-a'), 'event-1', { qos: 1 });
    await event;
    const command = arrival(gateway, topics.commands(site, 'gw-a'), 'unlock');
    await dashboard.publishAsync(topics.commands(site, 'gw-a'), 'unlock', { qos: 1 });
    await command;
  });

  it("does not deliver gateway A's publish on gateway B's events topic", async () => {
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.subscribeAsync('identgate/v1/+/+/events', { qos: 1 });
    const received = inbox(dashboard);
    const gatewayA = await connectAs(files.gatewayA as IssuedFiles);

    await gatewayA.publishAsync(topics.events(site, 'gw-b'), 'forged-for-b', { qos: 1 });
    const control = arrival(dashboard, topics.events(site, 'gw-a'), 'control');
    await gatewayA.publishAsync(topics.events(site, 'gw-a'), 'control', { qos: 1 });
    await control;
    expect(received.map((m) => m.payload)).toEqual(['control']);
  });

  it("does not deliver gateway B's commands to gateway A", async () => {
    const gatewayA = await connectAs(files.gatewayA as IssuedFiles);
    const received = inbox(gatewayA);
    // Mosquitto 2.0 grants the subscription and applies the read ACL to every delivery.
    await gatewayA.subscribeAsync({
      [topics.commands(site, 'gw-b')]: { qos: 1 },
      [topics.commands(site, 'gw-a')]: { qos: 1 },
    });
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.publishAsync(topics.commands(site, 'gw-b'), 'for-b', { qos: 1 });
    const control = arrival(gatewayA, topics.commands(site, 'gw-a'), 'for-a');
    await dashboard.publishAsync(topics.commands(site, 'gw-a'), 'for-a', { qos: 1 });
    await control;
    expect(received.map((m) => m.payload)).toEqual(['for-a']);
  });

  it('delivers a workstation its own lock commands and nothing it publishes', async () => {
    const own = workstationCommandTopic(site, 'ws-1');
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.subscribeAsync('identgate/v1/+/+/events', { qos: 1 });
    const dashboardReceived = inbox(dashboard);
    const workstation = await connectAs(files.workstation as IssuedFiles);
    await workstation.subscribeAsync(own, { qos: 1 });
    const workstationReceived = inbox(workstation);

    await workstation.publishAsync(topics.events(site, 'gw-a'), 'forged-event', { qos: 1 });
    await workstation.publishAsync(own, 'forged-lock', { qos: 1 });
    const lock = arrival(workstation, own, 'real-lock');
    await dashboard.publishAsync(own, 'real-lock', { qos: 1 });
    await lock;
    const gateway = await connectAs(files.gatewayA as IssuedFiles);
    const control = arrival(dashboard, topics.events(site, 'gw-a'), 'control');
    await gateway.publishAsync(topics.events(site, 'gw-a'), 'control', { qos: 1 });
    await control;
    expect(workstationReceived.map((m) => m.payload)).toEqual(['real-lock']);
    expect(dashboardReceived.map((m) => m.payload)).toEqual(['control']);
  });

  it("lets the dashboard delete a gateway's retained credential set (a retired gateway's)", async () => {
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.publishAsync(topics.credentials(site, 'gw-a'), 'sealed-set', { qos: 1, retain: true });
    const holder = await connectAs(files.gatewayA as IssuedFiles);
    const set = arrival(holder, topics.credentials(site, 'gw-a'), 'sealed-set');
    await holder.subscribeAsync(topics.credentials(site, 'gw-a'), { qos: 1 });
    await set;
    await dashboard.publishAsync(topics.credentials(site, 'gw-a'), Buffer.alloc(0), { qos: 1, retain: true });
    const fresh = await connectAs(files.gatewayA as IssuedFiles);
    const received = inbox(fresh);
    await fresh.subscribeAsync({
      [topics.credentials(site, 'gw-a')]: { qos: 1 },
      [topics.commands(site, 'gw-a')]: { qos: 1 },
    });
    const control = arrival(fresh, topics.commands(site, 'gw-a'), 'control');
    await dashboard.publishAsync(topics.commands(site, 'gw-a'), 'control', { qos: 1 });
    await control;
    expect(received.map((m) => m.payload)).toEqual(['control']);
  });

  it('does not let a gateway send commands or credentials', async () => {
    const gatewayB = await connectAs(files.gatewayB as IssuedFiles);
    await gatewayB.subscribeAsync(topics.commands(site, 'gw-b'), { qos: 1 });
    const received = inbox(gatewayB);
    const gatewayA = await connectAs(files.gatewayA as IssuedFiles);
    await gatewayA.publishAsync(topics.commands(site, 'gw-b'), 'forged-command', { qos: 1 });
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    const control = arrival(gatewayB, topics.commands(site, 'gw-b'), 'real-command');
    await dashboard.publishAsync(topics.commands(site, 'gw-b'), 'real-command', { qos: 1 });
    await control;
    expect(received.map((m) => m.payload)).toEqual(['real-command']);
  });

  it('shuts out a revoked gateway: the ACL at once on reload, the CRL on restart', async () => {
    const dashboard = await connectAs(files.dashboard as IssuedFiles);
    await dashboard.subscribeAsync('identgate/v1/+/+/events', { qos: 1 });
    const received = inbox(dashboard);
    const gatewayB = await connectAs(files.gatewayB as IssuedFiles);

    await pki.pki('revoke', `gateway:${site}:gw-b`);
    await broker.regenerate();
    await broker.reload();
    // Still connected, but without a single topic: its events go nowhere.
    await gatewayB.publishAsync(topics.events(site, 'gw-b'), 'after-revocation', { qos: 1 });
    const gatewayA = await connectAs(files.gatewayA as IssuedFiles);
    const control = arrival(dashboard, topics.events(site, 'gw-a'), 'control');
    await gatewayA.publishAsync(topics.events(site, 'gw-a'), 'control', { qos: 1 });
    await control;
    expect(received.map((m) => m.payload)).toEqual(['control']);

    for (const client of clients.splice(0)) await client.endAsync(true);
    await broker.restart();
    await expect(connectAs(files.gatewayB as IssuedFiles)).rejects.toThrow();
    await expect(connectAs(files.gatewayA as IssuedFiles)).resolves.toBeDefined();
  });
});
