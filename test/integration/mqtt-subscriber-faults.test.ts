import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, type IPublishPacket, type Packet } from 'mqtt-packet';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectedEvent,
  MqttSubscriber,
  type MqttSubscriberOptions,
} from '../../src/dashboard/ingest/mqtt-subscriber.js';
import { FakeClock } from '../../src/lib/clock.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { type FakeClientConnection, FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { requireTool } from '../helpers/services.js';
import { collectFrom, nextFrom } from '../helpers/wait.js';

// The broker here is scripted (test/helpers/fake-mqtt-broker.ts): it does what real brokers
// will not do on demand, such as going silent, sending garbage or refusing shared subscriptions.
const topic = 'idg/site/gw-1/events';
const running: MqttSubscriber[] = [];
const brokers: FakeMqttBroker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function fakeBroker(behaviour: Parameters<typeof FakeMqttBroker.start>[0] = {}) {
  const broker = await FakeMqttBroker.start(behaviour);
  brokers.push(broker);
  return broker;
}

function subscriber(broker: FakeMqttBroker, options: Partial<MqttSubscriberOptions> = {}) {
  const sub = new MqttSubscriber({
    url: broker.url,
    clientId: 'idg-dashboard-1',
    subscriptions: [{ topic, qos: 1 }],
    reconnect: { initialMs: 10, maxMs: 100 },
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

function publishPacket(messageId: number, payload: string, qos: 1 | 2 = 1): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos, messageId, dup: false, retain: false };
}

const is =
  (cmd: Packet['cmd'], messageId?: number) =>
  (packet: Packet): boolean =>
    packet.cmd === cmd && (messageId === undefined || packet.messageId === messageId);
const idsOf = (connection: FakeClientConnection, cmd: Packet['cmd']) =>
  connection.received.filter(is(cmd)).map((p) => p.messageId);

describe('MQTT subscriber keep-alive and connection faults', () => {
  it('notices a broker that stops answering PINGREQ and reconnects', async () => {
    const broker = await fakeBroker({ answerPings: false });
    const sub = subscriber(broker, { keepaliveSeconds: 1 });
    await connect(sub);
    const dropped = nextFrom(sub.disconnected);
    const reconnected = nextFrom(sub.connected);
    expect(await dropped).toMatchObject({
      reason: 'keepalive-timeout',
      error: expect.objectContaining({ code: 'IDG_MQTT_KEEPALIVE_TIMEOUT' }),
    });
    await reconnected;
    expect(idsOf(await broker.connection(1), 'pingreq')).toHaveLength(1);
    expect(broker.all).toHaveLength(2);
  });

  it('reports malformed data from the broker as IDG_MQTT_PROTOCOL and connects again', async () => {
    const broker = await fakeBroker({ connackReplacement: Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n') });
    const sub = subscriber(broker);
    const error = nextFrom(sub.errors);
    sub.start();
    expect(await error).toMatchObject({
      code: 'IDG_MQTT_PROTOCOL',
      message: expect.stringMatching(/malformed/),
    });
    await broker.connection(2);
  });

  it('reconnects after a broker DISCONNECT and reports its reason code', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const dropped = nextFrom(sub.disconnected);
    const reconnected = nextFrom(sub.connected);
    (await broker.connection(1)).send({ cmd: 'disconnect', reasonCode: 0x8b });
    expect(await dropped).toMatchObject({
      reason: 'broker-disconnect',
      reasonCode: 0x8b,
      error: expect.objectContaining({ message: expect.stringContaining('server shutting down') }),
    });
    await reconnected;
  });

  it('says what to do when the broker hands its session to another client with its id (0x8E)', async () => {
    const broker = await fakeBroker();
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
    const sub = subscriber(broker, { log });
    await connect(sub);
    const dropped = nextFrom(sub.disconnected);
    (await broker.connection(1)).send({ cmd: 'disconnect', reasonCode: 0x8e });
    expect(await dropped).toMatchObject({ reason: 'broker-disconnect', reasonCode: 0x8e });
    const line = lines.find((l) => l.includes('took over the session'));
    expect(line && JSON.parse(line)).toMatchObject({
      level: 'error',
      clientId: 'idg-dashboard-1',
      reasonCode: 0x8e,
      msg: expect.stringContaining('give each dashboard instance its own mqtt.clientId'),
    });
  });

  it('warns when the broker kept no session for it across a reconnect (what it held is gone)', async () => {
    const broker = await fakeBroker();
    const lines: string[] = [];
    const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
    const sub = subscriber(broker, { log });
    await connect(sub);
    const warning = 'the broker kept no session for this subscriber';
    expect(lines.some((l) => l.includes(warning))).toBe(false);
    const reconnected = nextFrom(sub.connected);
    (await broker.connection(1)).send({ cmd: 'disconnect', reasonCode: 0x8b });
    expect(await reconnected).toMatchObject({ sessionPresent: false });
    const line = lines.find((l) => l.includes(warning));
    expect(line && JSON.parse(line)).toMatchObject({ level: 'warn', clientId: 'idg-dashboard-1' });
  });

  it('reports a refused subscription with IDG_MQTT_SUBSCRIBE_REFUSED and keeps retrying', async () => {
    const broker = await fakeBroker({ grant: () => 0x87 });
    const sub = subscriber(broker);
    const errors = collectFrom(sub.errors, 2);
    sub.start();
    const [first] = await errors;
    expect(first).toMatchObject({
      code: 'IDG_MQTT_SUBSCRIBE_REFUSED',
      message: expect.stringContaining(`${topic}: not authorized (0x87)`),
    });
  });

  it('stop() sends DISCONNECT, resolves once the socket is closed, and is idempotent', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const stopped = sub.stop();
    expect(sub.stop()).toBe(stopped);
    await stopped;
    await connection.closed;
    expect(connection.received.at(-1)?.cmd).toBe('disconnect');
    expect(broker.all).toHaveLength(1);
  });
});

describe('MQTT subscriber protocol and subscription fallbacks', () => {
  it('falls back to 3.1.1 when the broker closes the connection on an MQTT 5 CONNECT', async () => {
    const broker = await fakeBroker({ dropVersion5: true });
    const sub = subscriber(broker, { sharedGroup: 'ingest' });
    expect(await connect(sub)).toMatchObject({ protocolVersion: 4, shared: false, filters: [topic] });
    expect(broker.all.map((c) => c.protocolVersion)).toEqual([5, 4]);
  });

  it('tries MQTT 5 again on the next connection when 3.1.1 was only a guess (a connection closed before CONNACK)', async () => {
    const broker = await fakeBroker({ dropVersion5: true });
    const sub = subscriber(broker, { sharedGroup: 'ingest' });
    await connect(sub);
    const again = nextFrom(sub.connected);
    (await broker.connection(2)).send({ cmd: 'disconnect', reasonCode: 0 });
    expect(await again).toMatchObject({ protocolVersion: 4 });
    expect(broker.all.map((c) => c.protocolVersion)).toEqual([5, 4, 5, 4]);
  });

  it('on 3.1.1 chosen on a guess, tries MQTT 5 again after a while even when the connection stays up', async () => {
    const broker = await fakeBroker({ dropVersion5: true });
    const clock = new FakeClock();
    const sub = subscriber(broker, { sharedGroup: 'ingest', clock, keepaliveSeconds: 0 });
    const connected = nextFrom(sub.connected);
    sub.start();
    // Fake time moves only when told: the immediate retry with 3.1.1 waits for that.
    while (broker.all.length < 2) {
      clock.advance(0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await connected).toMatchObject({ protocolVersion: 4 });
    const again = nextFrom(sub.connected);
    clock.advance(10 * 60_000);
    while (broker.all.length < 4) {
      clock.advance(1000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await again;
    expect(broker.all.map((c) => c.protocolVersion)).toEqual([5, 4, 5, 4]);
  });

  it('on a resumed session, unsubscribes the other form of its topics and retired ones before it is ready', async () => {
    const broker = await fakeBroker({ sessionPresent: true });
    const sub = subscriber(broker, { sharedGroup: 'ingest', retiredTopics: ['idg/+/+/events'] });
    const info = await connect(sub);
    expect(info).toMatchObject({ sessionPresent: true, shared: true, filters: [`$share/ingest/${topic}`] });
    const connection = await broker.connection(1);
    const unsubscribe = connection.received.find(is('unsubscribe'));
    expect(unsubscribe && 'unsubscriptions' in unsubscribe ? unsubscribe.unsubscriptions : []).toEqual([
      topic,
      'idg/+/+/events',
      '$share/ingest/idg/+/+/events',
    ]);
    // Ready came after the UNSUBACK: the packets went CONNECT, SUBSCRIBE, UNSUBSCRIBE.
    expect(connection.received.map((p) => p.cmd)).toEqual(['connect', 'subscribe', 'unsubscribe']);
  });

  it('goes on without the UNSUBACK of stale filters once the connect timeout passes, and takes a late one in its stride', async () => {
    const broker = await fakeBroker({ sessionPresent: true, answerUnsubscribe: false });
    const clock = new FakeClock();
    const sub = subscriber(broker, {
      sharedGroup: 'ingest',
      clock,
      keepaliveSeconds: 0,
      connectTimeoutMs: 5000,
    });
    const connected = nextFrom(sub.connected);
    let ready = false;
    sub.connected.on(() => {
      ready = true;
    });
    const errors: Error[] = [];
    sub.errors.on((error) => errors.push(error));
    sub.start();
    const connection = await broker.connection(1);
    const unsubscribe = await connection.next(is('unsubscribe'));
    // Not ready while the UNSUBACK is awaited; ready once the connect timeout has passed.
    await new Promise((resolve) => setImmediate(resolve));
    expect(ready).toBe(false);
    clock.advance(5000);
    expect(await connected).toMatchObject({ sessionPresent: true, shared: true });
    // The broker answers after all; a message behind it shows the connection took it.
    connection.send({ cmd: 'unsuback', messageId: unsubscribe.messageId ?? 0, granted: [0, 0] });
    const delivered = nextFrom(sub.messages);
    connection.send(publishPacket(1, 'after'));
    expect((await delivered).payload.toString()).toBe('after');
    expect(errors).toEqual([]);
    expect(broker.all).toHaveLength(1);
  });

  it('subscribes to the plain topic when SUBACK refuses the shared one (0x9E), and remembers', async () => {
    const broker = await fakeBroker({ grant: (filter) => (filter.startsWith('$share/') ? 0x9e : 1) });
    const sub = subscriber(broker, { sharedGroup: 'ingest' });
    expect(await connect(sub)).toMatchObject({ protocolVersion: 5, shared: false, filters: [topic] });
    const first = await broker.connection(1);
    const filters = (c: FakeClientConnection) =>
      c.received.flatMap((p) => (p.cmd === 'subscribe' ? p.subscriptions.map((s) => s.topic) : []));
    expect(filters(first)).toEqual([`$share/ingest/${topic}`, topic]);

    const reconnected = nextFrom(sub.connected);
    first.destroy();
    await reconnected;
    expect(filters(await broker.connection(2))).toEqual([topic]);
  });
});

describe('MQTT subscriber acknowledgements', () => {
  it('sends PUBACKs in arrival order even when the application acks out of order', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = collectFrom(sub.messages, 3);
    for (const id of [1, 2, 3]) connection.send(publishPacket(id, `m${id}`));
    const [one, two, three] = await delivered;

    three?.ack();
    one?.ack();
    await connection.next(is('puback', 1));
    expect(idsOf(connection, 'puback')).toEqual([1]);
    two?.ack();
    await connection.next(is('puback', 3));
    expect(idsOf(connection, 'puback')).toEqual([1, 2, 3]);
  });

  it('sends acks given just before stop() ahead of the DISCONNECT', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = collectFrom(sub.messages, 3);
    for (const id of [1, 2, 3]) connection.send(publishPacket(id, `m${id}`));
    for (const message of await delivered) message.ack();
    await sub.stop();
    await connection.closed;
    expect(connection.received.slice(-4).map((p) => [p.cmd, p.messageId])).toEqual([
      ['puback', 1],
      ['puback', 2],
      ['puback', 3],
      ['disconnect', undefined],
    ]);
  });

  it('ignores acks of messages whose connection has dropped, though the new one reuses their ids', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const first = await broker.connection(1);
    const original = nextFrom(sub.messages);
    first.send(publishPacket(1, 'event'));
    const stale = await original;

    const reconnected = nextFrom(sub.connected);
    first.destroy();
    await reconnected;
    const second = await broker.connection(2);
    const redelivery = nextFrom(sub.messages);
    second.send({ ...publishPacket(1, 'event'), dup: true });
    const fresh = await redelivery;
    expect(fresh).toMatchObject({ messageId: 1, dup: true, connection: 2 });
    expect(stale.connection).toBe(1);

    stale.ack();
    fresh.ack();
    await second.next(is('puback', 1));
    // Had the stale ack gone out, its PUBACK would have arrived first and been counted too.
    expect(idsOf(second, 'puback')).toEqual([1]);
  });

  it('delivers a message a 3.1.1 broker sends again while it is in flight only once, so one PUBACK answers for one message', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker, { protocol: 4 });
    await connect(sub);
    const connection = await broker.connection(1);
    const payloads: string[] = [];
    sub.messages.on((message) => payloads.push(message.payload.toString()));
    const firstTwo = collectFrom(sub.messages, 2);
    connection.send(publishPacket(5, 'A'));
    // 3.1.1 lets a broker send it again on the same connection; C behind it shows it was read.
    connection.send({ ...publishPacket(5, 'A'), dup: true });
    connection.send(publishPacket(6, 'C'));
    const [a] = await firstTwo;
    a?.ack();
    await connection.next(is('puback', 5));
    // Acknowledged, id 5 is the broker's to reuse: B is a new message, not yet committed.
    const third = nextFrom(sub.messages);
    connection.send(publishPacket(5, 'B'));
    await third;
    expect(payloads).toEqual(['A', 'C', 'B']);
    expect(idsOf(connection, 'puback')).toEqual([5]);
  });

  it('ends the connection on a new message under a packet id still in flight, so that no PUBACK can answer for it', async () => {
    // A resend racing our PUBACK leaves the id in use by the resent copy when the broker, which
    // has the PUBACK, sends its next message under it. Dropped, that message would be acked by
    // the copy's PUBACK; ending the connection makes the broker send it again.
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const first = nextFrom(sub.messages);
    connection.send(publishPacket(5, 'A'));
    const a = await first;
    const error = nextFrom(sub.errors);
    connection.send(publishPacket(5, 'B'));
    expect(await error).toMatchObject({
      code: 'IDG_MQTT_PROTOCOL',
      message: expect.stringContaining('packet id 5, which is still in flight'),
    });
    a.ack();
    await connection.closed;
    expect(idsOf(connection, 'puback')).toEqual([]);
    await broker.connection(2);
  });

  it('takes more than Receive Maximum unacknowledged messages, as Mosquitto 2.0 sends after a reconnect, says so once, and acknowledges them all', async () => {
    const broker = await fakeBroker();
    const lines: string[] = [];
    const sub = subscriber(broker, {
      receiveMaximum: 3,
      log: createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) }),
    });
    await connect(sub);
    const connection = await broker.connection(1);
    const errors: Error[] = [];
    sub.errors.on((error) => errors.push(error));
    const delivered = collectFrom(sub.messages, 5);
    for (const id of [1, 2, 3, 4, 5]) connection.send(publishPacket(id, `m${id}`));
    const messages = await delivered;
    expect(messages.map((m) => m.messageId)).toEqual([1, 2, 3, 4, 5]);
    for (const message of messages) message.ack();
    await connection.next(is('puback', 5));
    expect(idsOf(connection, 'puback')).toEqual([1, 2, 3, 4, 5]);
    expect(errors).toEqual([]);
    expect(
      lines.filter((line) => line.includes('more unacknowledged messages than our Receive Maximum')),
    ).toHaveLength(1);
    expect(broker.all).toHaveLength(1);
  });

  it('takes exactly Receive Maximum unacknowledged messages, and one more once a PUBACK has gone out', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker, { receiveMaximum: 3 });
    await connect(sub);
    const connection = await broker.connection(1);
    const errors: Error[] = [];
    sub.errors.on((error) => errors.push(error));
    const firstThree = collectFrom(sub.messages, 3);
    for (const id of [1, 2, 3]) connection.send(publishPacket(id, `m${id}`));
    const [one] = await firstThree;
    one?.ack();
    await connection.next(is('puback', 1));
    const fourth = nextFrom(sub.messages);
    connection.send(publishPacket(4, 'm4'));
    expect(await fourth).toMatchObject({ messageId: 4 });
    expect(sub.unacknowledged).toBe(3);
    expect(errors).toEqual([]);
    expect(broker.all).toHaveLength(1);
  });

  it('counts a QoS 2 message against Receive Maximum until the PUBCOMP that answers its PUBREL', async () => {
    const broker = await fakeBroker();
    const lines: string[] = [];
    const sub = subscriber(broker, {
      receiveMaximum: 1,
      log: createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) }),
    });
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = nextFrom(sub.messages);
    connection.send(publishPacket(7, 'exactly-once', 2));
    (await delivered).ack();
    await connection.next(is('pubrec', 7));
    const next = nextFrom(sub.messages);
    connection.send(publishPacket(8, 'too soon'));
    await next;
    expect(lines.some((line) => line.includes('than our Receive Maximum'))).toBe(true);
  });

  it('applies no Receive Maximum on MQTT 3.1.1, which has none', async () => {
    const broker = await fakeBroker();
    const lines: string[] = [];
    const sub = subscriber(broker, {
      protocol: 4,
      receiveMaximum: 2,
      log: createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) }),
    });
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = collectFrom(sub.messages, 3);
    for (const id of [1, 2, 3]) connection.send(publishPacket(id, `m${id}`));
    expect((await delivered).map((m) => m.messageId)).toEqual([1, 2, 3]);
    expect(lines.some((line) => line.includes('Receive Maximum'))).toBe(false);
  });

  it('refuses a PUBLISH with packet id 0 as a protocol error, without acknowledging it', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const error = nextFrom(sub.errors);
    const topicBytes = Buffer.from(topic);
    // QoS 1 PUBLISH (MQTT 5): topic, packet id 0, no properties, payload "x".
    const body = Buffer.concat([
      Buffer.from([topicBytes.length >> 8, topicBytes.length & 0xff]),
      topicBytes,
      Buffer.from([0, 0, 0]),
      Buffer.from('x'),
    ]);
    await connection.sendRaw(Buffer.concat([Buffer.from([0x32, body.length]), body]));
    expect(await error).toMatchObject({
      code: 'IDG_MQTT_PROTOCOL',
      message: expect.stringContaining('without a valid packet id'),
    });
    await connection.closed;
    expect(idsOf(connection, 'puback')).toEqual([]);
    await broker.connection(2);
  });

  it('refuses a CONNACK that gives a property twice as a protocol error', async () => {
    // Server Keep Alive (0x13) twice: read as a list, it made the keep-alive NaN and the
    // connection time out at once, over and over.
    const broker = await fakeBroker({
      connackReplacement: Buffer.from([0x20, 0x09, 0x00, 0x00, 0x06, 0x13, 0x00, 0x05, 0x13, 0x00, 0x05]),
    });
    const sub = subscriber(broker);
    const error = nextFrom(sub.errors);
    sub.start();
    expect(await error).toMatchObject({
      code: 'IDG_MQTT_PROTOCOL',
      message: expect.stringContaining('serverKeepAlive more than once'),
    });
  });

  it('delivers QoS 0 messages without a packet id and never acknowledges them', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = collectFrom(sub.messages, 2);
    connection.send({ cmd: 'publish', topic, payload: Buffer.from('q0'), qos: 0, dup: false, retain: false });
    connection.send(publishPacket(9, 'q1'));
    const [atMostOnce, atLeastOnce] = await delivered;
    expect(atMostOnce).toMatchObject({ qos: 0, messageId: undefined });
    atMostOnce?.ack();
    atLeastOnce?.ack();
    await connection.next(is('puback', 9));
    expect(idsOf(connection, 'puback')).toEqual([9]);
  });

  it('acknowledges an unexpected QoS 2 message with PUBREC on ack() and PUBCOMP on PUBREL', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = nextFrom(sub.messages);
    connection.send(publishPacket(7, 'exactly-once', 2));
    const message = await delivered;
    expect(message).toMatchObject({ qos: 2, messageId: 7 });

    message.ack();
    await connection.next(is('pubrec', 7));
    connection.send({ cmd: 'pubrel', messageId: 7 });
    await connection.next(is('pubcomp', 7));
  });

  it('reassembles packets split across many reads and separates packets sharing one read', async () => {
    const broker = await fakeBroker();
    const sub = subscriber(broker);
    await connect(sub);
    const connection = await broker.connection(1);
    const delivered = collectFrom(sub.messages, 3);
    const split = generate(publishPacket(1, 'x'.repeat(300)), { protocolVersion: 5 });
    for (const byte of split) await connection.sendRaw(Buffer.from([byte]));
    const joined = [2, 3].map((id) => generate(publishPacket(id, `m${id}`), { protocolVersion: 5 }));
    await connection.sendRaw(Buffer.concat(joined));
    const messages = await delivered;
    expect(messages.map((m) => m.payload.toString())).toEqual(['x'.repeat(300), 'm2', 'm3']);
  });
});

describe('MQTT subscriber over TLS', () => {
  requireTool(existsSync('/usr/bin/openssl'), 'openssl', 'openssl');
  let tls: { key: string; cert: string };

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-mqtt-tls-'));
    execFileSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      ...['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
    ]);
    tls = {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects to an mqtts:// broker whose certificate the given CA vouches for', async () => {
    const broker = await FakeMqttBroker.start({}, tls);
    brokers.push(broker);
    const sub = subscriber(broker, {
      tls: { ca: tls.cert, minVersion: 'TLSv1.3', ecdhCurve: 'X25519:P-256' },
    });
    expect(await connect(sub)).toMatchObject({ protocolVersion: 5 });
  });

  it('refuses a certificate it cannot verify, reports IDG_MQTT_SOCKET and keeps trying', async () => {
    const broker = await FakeMqttBroker.start({}, tls);
    brokers.push(broker);
    const sub = subscriber(broker, { tls: { minVersion: 'TLSv1.3' } });
    const errors = collectFrom(sub.errors, 2);
    sub.start();
    const [first] = await errors;
    expect(first).toMatchObject({ code: 'IDG_MQTT_SOCKET', message: expect.stringMatching(/self.signed/i) });
    expect(broker.all).toHaveLength(0);
  });

  it('reports unusable TLS options as an error instead of throwing', async () => {
    const broker = await FakeMqttBroker.start({}, tls);
    brokers.push(broker);
    const sub = subscriber(broker, { tls: { minVersion: 'TLSv9' as 'TLSv1.3' } });
    const error = nextFrom(sub.errors);
    sub.start();
    expect(await error).toMatchObject({ code: 'IDG_MQTT_SOCKET', message: expect.stringContaining('TLSv9') });
  });
});
