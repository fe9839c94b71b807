import { connect, connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mqttTlsOptions } from '../../src/config/tls-material.js';
import { topics } from '../../src/protocol/topics.js';
import { requireTool, uniqueSite } from '../helpers/services.js';
import { createTestPki, type IssuedFiles, type TestPki } from '../helpers/test-pki.js';
import { MOSQUITTO, startTlsMosquitto, type TlsMosquitto } from '../helpers/tls-mosquitto.js';

/**
 * The queue and session limits of `pki mosquitto-config`, on a real Mosquitto started from the
 * written file: Mosquitto refuses a `persistent_client_expiration` it cannot read at start, and
 * would read a malformed `max_queued_bytes` as some other number, so the test shows the cap act in bytes.
 */
const site = uniqueSite('queue');
let pki: TestPki;
let broker: TlsMosquitto;
let dashboardFiles: IssuedFiles;
let gatewayFiles: IssuedFiles;
const clients: MqttClient[] = [];

const eventsTopic = () => topics.events(site, 'gw-a');
const KIB = 'x'.repeat(1024);

describe('the broker limits written by pki mosquitto-config', () => {
  requireTool(MOSQUITTO, 'mosquitto', 'mosquitto');
  beforeAll(async () => {
    pki = await createTestPki();
    await pki.issue('broker', 'localhost', ['127.0.0.1']);
    dashboardFiles = await pki.issue('dashboard', 'central-1', ['127.0.0.1']);
    gatewayFiles = await pki.issue('gateway', `${site}/gw-a`);
    broker = await startTlsMosquitto(pki, 'localhost', [
      '--max-queued-bytes',
      '4KiB',
      '--persistent-client-expiration',
      '7d',
    ]);
  }, 120_000);

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
  });

  afterAll(async () => {
    await broker?.stop();
  });

  /** The dashboard's persistent session, with a listener in place before anything is delivered. */
  async function dashboardSession(received: string[]): Promise<MqttClient> {
    const client = connect(broker.url, {
      ...mqttTlsOptions(dashboardFiles, broker.url),
      clientId: `queue-limits-${site}`,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(client);
    client.on('message', (_topic, payload) => received.push(payload.toString().slice(0, 16)));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  }

  it('keeps about --max-queued-bytes for a client away and drops what comes beyond it', async () => {
    const received: string[] = [];
    const away = await dashboardSession(received);
    await away.subscribeAsync(eventsTopic(), { qos: 1 });
    await away.endAsync();
    clients.splice(clients.indexOf(away), 1);

    const gateway = await connectAsync(broker.url, {
      ...mqttTlsOptions(gatewayFiles, broker.url),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(gateway);
    // Ten 1 KiB messages against a 4 KiB queue; each acknowledged, so queued or dropped by now.
    for (let i = 0; i < 10; i++)
      await gateway.publishAsync(eventsTopic(), `event-${i}`.padEnd(16, '-') + KIB, { qos: 1 });

    const back = await dashboardSession(received);
    const control = new Promise<void>((resolve) =>
      back.on('message', (_topic, payload) => {
        if (payload.toString() === 'control') resolve();
      }),
    );
    await gateway.publishAsync(eventsTopic(), 'control', { qos: 1 });
    await control;
    const kept = received.slice(0, -1);
    expect(received.at(-1)).toBe('control');
    // The oldest are kept, the newest dropped; how close to 4 KiB the cap lands is Mosquitto's own.
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThanOrEqual(5);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => `event-${i}`.padEnd(16, '-')));
  });
});
