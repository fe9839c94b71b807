import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectedEvent,
  type MqttMessage,
  MqttSubscriber,
  type MqttSubscriberOptions,
} from '../../src/dashboard/ingest/mqtt-subscriber.js';
import { silentLogger } from '../../src/lib/logger.js';
import { mosquittoAvailable, OwnMosquitto } from '../helpers/mosquitto.js';
import { mqttUrl, requireTool, uniqueSite } from '../helpers/services.js';
import { collectFrom, nextFrom } from '../helpers/wait.js';

const running: MqttSubscriber[] = [];
const publishers: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  await Promise.all(publishers.splice(0).map((p) => p.endAsync()));
});

function subscriber(url: string, topic: string, options: Partial<MqttSubscriberOptions> = {}) {
  const sub = new MqttSubscriber({
    url,
    clientId: `idg-sub-${uniqueSite()}`,
    subscriptions: [{ topic, qos: 1 }],
    // Long enough for the reconnect tests; short so test sessions do not linger on a shared broker.
    sessionExpirySeconds: 300,
    log: silentLogger,
    ...options,
  });
  running.push(sub);
  return sub;
}

function connect(sub: MqttSubscriber): Promise<ConnectedEvent> {
  const connected = nextFrom(sub.connected);
  sub.start();
  return connected;
}

async function publish(url: string, topic: string, payloads: string[]): Promise<void> {
  const publisher = await connectAsync(url, { clientId: `idg-pub-${uniqueSite()}` });
  publishers.push(publisher);
  await Promise.all(payloads.map((payload) => publisher.publishAsync(topic, payload, { qos: 1 })));
}

const texts = (messages: MqttMessage[]) => messages.map((m) => m.payload.toString());
const ackAll = (messages: MqttMessage[]) => {
  for (const message of messages) message.ack();
};

describe('MQTT subscriber on the test broker', () => {
  it('delivers QoS 1 messages in publish order, with their topic and packet id', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const sub = subscriber(mqttUrl(), topic);
    await connect(sub);
    const received = collectFrom(sub.messages, 5);
    await publish(mqttUrl(), topic, ['1', '2', '3', '4', '5']);
    const messages = await received;
    expect(texts(messages)).toEqual(['1', '2', '3', '4', '5']);
    expect(messages.every((m) => m.topic === topic && m.qos === 1 && m.messageId !== undefined)).toBe(true);
  });

  it('sends no PUBACK before ack(): unacked messages come back with dup set, acked ones never', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const clientId = `idg-sub-${uniqueSite()}`;
    const session = () => subscriber(mqttUrl(), topic, { clientId });

    const first = session();
    const { protocolVersion } = await connect(first);
    // aedes, the test broker when TEST_MQTT_URL is unset, speaks 3.1.1 only and redelivers
    // without the DUP flag (against MQTT-3.3.1-1); Mosquitto sets it.
    const redeliveryDup = protocolVersion === 5;
    const firstDelivery = collectFrom(first.messages, 3);
    await publish(mqttUrl(), topic, ['a', 'b', 'c']);
    const original = await firstDelivery;
    expect(original.map((m) => m.dup)).toEqual([false, false, false]);
    await first.stop();

    const second = session();
    const secondDelivery = collectFrom(second.messages, 3);
    await connect(second);
    const redelivered = await secondDelivery;
    expect(texts(redelivered)).toEqual(['a', 'b', 'c']);
    expect(redelivered.map((m) => m.dup)).toEqual([redeliveryDup, redeliveryDup, redeliveryDup]);
    // Acks of the dropped connection must not leak into this one, where the same ids are reused.
    ackAll(original);
    await second.stop();

    const third = session();
    const thirdDelivery = collectFrom(third.messages, 3);
    await connect(third);
    const again = await thirdDelivery;
    expect(texts(again)).toEqual(['a', 'b', 'c']);
    ackAll(again);
    await third.stop();

    const fourth = session();
    const afterAcks = nextFrom(fourth.messages);
    await connect(fourth);
    await publish(mqttUrl(), topic, ['fresh']);
    expect((await afterAcks).payload.toString()).toBe('fresh');
  });

  it('keeps reading while batches are being committed, and delivers 2,000 messages exactly once', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const total = 2000;
    const batchSize = 200;
    const sub = subscriber(mqttUrl(), topic);
    await connect(sub);
    const seen = new Map<string, number>();
    let received = 0;
    let maxUnacked = 0;
    let acked = 0;
    const allAcked = new Promise<void>((resolve) => {
      let batch: MqttMessage[] = [];
      // The "commit" finishes only once a later message has arrived: proof that the client
      // went on reading while this batch was unacknowledged.
      const commit = () => (received < total ? nextFrom(sub.messages) : Promise.resolve());
      sub.messages.on((message) => {
        received += 1;
        const text = message.payload.toString();
        seen.set(text, (seen.get(text) ?? 0) + 1);
        maxUnacked = Math.max(maxUnacked, sub.unacknowledged);
        batch.push(message);
        if (batch.length < batchSize) return;
        const committing = batch;
        batch = [];
        void commit().then(() => {
          ackAll(committing);
          acked += committing.length;
          if (acked === total) resolve();
        });
      });
    });
    const payloads = Array.from({ length: total }, (_, i) => `event-${i}`);
    await publish(mqttUrl(), topic, payloads);
    await allAcked;
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(maxUnacked).toBeGreaterThan(batchSize);
    expect(sub.unacknowledged).toBe(0);
  });
});

describe('MQTT 3.1.1 fallback on a broker without MQTT 5 (aedes)', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  const connectVersions: number[] = [];
  let lastSubscriber: { close(): void } | undefined;

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    broker.preConnect = (_client, packet, callback) => {
      if (packet.clientId.startsWith('idg-sub-')) connectVersions.push(packet.protocolVersion ?? 0);
      callback(null, true);
    };
    broker.on('clientReady', (client) => {
      if (client.id.startsWith('idg-sub-')) lastSubscriber = client;
    });
    server = createServer(broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `mqtt://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => broker.close(() => server.close(() => resolve())));
  });

  it('falls back to 3.1.1, subscribes to the plain topic instead of the shared one, and remembers', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const sub = subscriber(url, topic, { sharedGroup: 'ingest' });
    const refusal = nextFrom(sub.errors);
    const connected = await connect(sub);
    expect(await refusal).toMatchObject({ code: 'IDG_MQTT_CONNECT_REFUSED' });
    expect(connected).toMatchObject({ protocolVersion: 4, shared: false, filters: [topic] });

    const message = nextFrom(sub.messages);
    await publish(url, topic, ['hello']);
    expect((await message).payload.toString()).toBe('hello');

    const reconnected = nextFrom(sub.connected);
    lastSubscriber?.close();
    expect(await reconnected).toMatchObject({ protocolVersion: 4 });
    expect(connectVersions).toEqual([5, 4, 4]);
  });
});

describe('MQTT subscriber on a Mosquitto of its own', () => {
  requireTool(mosquittoAvailable, 'mosquitto', 'mosquitto');
  let mosquitto: OwnMosquitto;

  beforeAll(async () => {
    mosquitto = await OwnMosquitto.start();
  });

  afterAll(async () => {
    await mosquitto?.dispose();
  });

  it('splits a shared subscription between two subscribers of the same group (MQTT 5)', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const one = subscriber(mosquitto.url, topic, { sharedGroup: 'ingest' });
    const two = subscriber(mosquitto.url, topic, { sharedGroup: 'ingest' });
    const shared = { protocolVersion: 5, shared: true, filters: [`$share/ingest/${topic}`] };
    expect(await connect(one)).toMatchObject(shared);
    expect(await connect(two)).toMatchObject(shared);
    const total = 100;
    const got = { one: [] as string[], two: [] as string[] };
    const allIn = new Promise<void>((resolve) => {
      for (const [name, sub] of [
        ['one', one],
        ['two', two],
      ] as const) {
        sub.messages.on((message) => {
          got[name].push(message.payload.toString());
          message.ack();
          if (got.one.length + got.two.length === total) resolve();
        });
      }
    });
    await publish(
      mosquitto.url,
      topic,
      Array.from({ length: total }, (_, i) => `m${i}`),
    );
    await allIn;
    expect(got.one.length).toBeGreaterThan(0);
    expect(got.two.length).toBeGreaterThan(0);
    expect(new Set([...got.one, ...got.two]).size).toBe(total);
  });

  it('drops the subscriptions an earlier run left in its session: the plain form after a 3.1.1 run, and sites it no longer ingests', async () => {
    const clientId = `idg-sub-${uniqueSite()}`;
    const site = uniqueSite();
    const mine = `idg/${site}/+/events`;
    const everySite = 'idg/+/+/events';
    // An earlier run: 3.1.1, every site, plain.
    const earlier = subscriber(mosquitto.url, everySite, { clientId, protocol: 4, sharedGroup: 'ingest' });
    expect(await connect(earlier)).toMatchObject({ protocolVersion: 4, filters: [everySite] });
    await earlier.stop();
    // This run: MQTT 5, shared, one site.
    const sub = subscriber(mosquitto.url, mine, {
      clientId,
      protocol: 5,
      sharedGroup: 'ingest',
      retiredTopics: [everySite],
    });
    expect(await connect(sub)).toMatchObject({ sessionPresent: true, shared: true });
    const got: string[] = [];
    const last = new Promise<void>((resolve) =>
      sub.messages.on((message) => {
        got.push(`${message.topic} ${message.payload.toString()}`);
        message.ack();
        if (message.payload.toString() === 'last') resolve();
      }),
    );
    await publish(mosquitto.url, `idg/other-${site}/gw-1/events`, ['elsewhere']);
    await publish(mosquitto.url, `idg/${site}/gw-1/events`, ['one']);
    await publish(mosquitto.url, `idg/${site}/gw-1/events`, ['last']);
    await last;
    // Once each, and nothing of a site it no longer ingests.
    expect(got).toEqual([`idg/${site}/gw-1/events one`, `idg/${site}/gw-1/events last`]);
  });

  it('reconnects by itself after a broker restart and gets the unacked messages again', async () => {
    const topic = `idg/${uniqueSite()}/events`;
    const sub = subscriber(mosquitto.url, topic);
    await connect(sub);
    const before = collectFrom(sub.messages, 3);
    await publish(mosquitto.url, topic, ['x', 'y', 'z']);
    await before;

    const disconnected = nextFrom(sub.disconnected);
    const reconnected = nextFrom(sub.connected);
    const after = collectFrom(sub.messages, 3);
    await mosquitto.restart();
    // Mosquitto 2.0 closes the socket on SIGTERM; later versions may send DISCONNECT 0x8B first.
    expect(await disconnected).toMatchObject({
      reason: expect.stringMatching(/socket-closed|broker-disconnect/),
    });
    expect(await reconnected).toMatchObject({ sessionPresent: true });
    const redelivered = await after;
    expect(texts(redelivered)).toEqual(['x', 'y', 'z']);
    expect(redelivered.every((m) => m.dup)).toBe(true);
    ackAll(redelivered);
  });
});
