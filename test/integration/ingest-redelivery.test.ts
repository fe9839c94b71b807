import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { EventIngest, type IngestOutcome } from '../../src/dashboard/ingest/event-ingest.js';
import type { IncomingMessage } from '../../src/dashboard/ingest/ingest-pipeline.js';
import type { Checked } from '../../src/dashboard/ingest/payload-checks.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Signal } from '../../src/lib/signal.js';
import { topics } from '../../src/protocol/topics.js';
import { type FakeClientConnection, FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { collectFrom, nextFrom } from '../helpers/wait.js';

// What EventIngest does with the broker's redeliveries of messages it still holds when a
// connection ends, e.g. while the database is down and commits are retried. The broker is
// scripted (test/helpers/fake-mqtt-broker.ts) and the pipeline is a stand-in whose commits
// wait until the test lets them finish: this is about which messages reach the pipeline and
// where their PUBACKs go, not about storing them (ingest.test.ts does that on PostgreSQL).
const site = 'site-1';
const topic = topics.events(site, 'gw-1');

/** A pipeline that records what it is given and holds every commit until `release()`. */
class HeldPipeline {
  /** Each payload the ingest queued, as it arrived. */
  readonly checked = new Signal<string>('held-pipeline.checked');
  /** The payloads of each committed batch. */
  readonly committed: string[][] = [];
  private holding = true;
  private readonly waiting: Array<() => void> = [];

  check(message: IncomingMessage): Promise<Checked[]> {
    this.checked.emit(message.payload.toString());
    return Promise.resolve([]);
  }

  process(messages: readonly IncomingMessage[]): Promise<IngestOutcome[][]> {
    return new Promise((resolve) => {
      const commit = () => {
        this.committed.push(messages.map((m) => m.payload.toString()));
        resolve(messages.map(() => [{ status: 'duplicate' }]));
      };
      if (this.holding) this.waiting.push(commit);
      else commit();
    });
  }

  quarantineUnstorable(): Promise<IngestOutcome> {
    return Promise.reject(new Error('nothing here is unstorable'));
  }

  /** Lets the commits held so far, and every later one, finish. */
  release(): void {
    this.holding = false;
    for (const commit of this.waiting.splice(0)) commit();
  }
}

const running: Array<{ ingest: EventIngest; pipeline: HeldPipeline }> = [];
const brokers: FakeMqttBroker[] = [];

afterEach(async () => {
  for (const { pipeline } of running) pipeline.release();
  await Promise.all(running.splice(0).map(({ ingest }) => ingest.stop()));
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

async function start(sessionPresent = true) {
  const broker = await FakeMqttBroker.start({ sessionPresent });
  brokers.push(broker);
  const pipeline = new HeldPipeline();
  // One batch at a time: the first message commits alone, the rest wait in the queue.
  const ingest = new EventIngest({
    url: broker.url,
    clientId: 'idg-dashboard-1',
    sites: [site],
    pipeline,
    log: silentLogger,
    verifyThreads: 0,
    concurrency: 1,
  });
  running.push({ ingest, pipeline });
  await ingest.start();
  return { broker, pipeline, ingest, seen: record(pipeline.checked) };
}

function record<T>(signal: Signal<T>): T[] {
  const seen: T[] = [];
  signal.on((value) => seen.push(value));
  return seen;
}

/** The n-th connection once its CONNECT has been answered: the broker may send from then on. */
async function connection(broker: FakeMqttBroker, n: number): Promise<FakeClientConnection> {
  const client = await broker.connection(n);
  if (!client.received.some((p) => p.cmd === 'connect')) await client.next((p) => p.cmd === 'connect');
  return client;
}

/** Sends `payloads` under consecutive packet ids from `firstId`; a redelivery has dup set. */
function deliver(client: FakeClientConnection, payloads: string[], { firstId = 1, dup = false } = {}): void {
  payloads.forEach((payload, index) => {
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos: 1,
      messageId: firstId + index,
      dup,
      retain: false,
    };
    client.send(packet);
  });
}

/** Drops the connection; resolves with the next one, connected. */
async function flap(broker: FakeMqttBroker, client: FakeClientConnection): Promise<FakeClientConnection> {
  const n = broker.all.indexOf(client) + 1;
  client.destroy();
  return connection(broker, n + 1);
}

const pubacks = (client: FakeClientConnection) =>
  client.received.filter((p: Packet) => p.cmd === 'puback').map((p) => p.messageId);

/** Delivers `payloads` from packet id 1 and waits until the ingest has taken them all. */
async function deliverAll(pipeline: HeldPipeline, client: FakeClientConnection, payloads: string[]) {
  const arrived = collectFrom(pipeline.checked, payloads.length);
  deliver(client, payloads);
  await arrived;
}

/** Redelivers `held` (dup set), then sends `fresh` from `firstId`; waits until `fresh` is taken. */
async function redeliverThen(
  pipeline: HeldPipeline,
  client: FakeClientConnection,
  held: string[],
  fresh: string,
  firstId = 1,
) {
  const arrived = nextFrom(pipeline.checked, (payload) => payload === fresh);
  if (held.length > 0) deliver(client, held, { dup: true });
  deliver(client, [fresh], { firstId });
  await arrived;
}

/** Lets the held commits finish and waits for the PUBACK of `messageId` on `client`. */
async function releaseUntilAck(pipeline: HeldPipeline, client: FakeClientConnection, messageId: number) {
  const acked = client.next((p) => p.cmd === 'puback' && p.messageId === messageId);
  pipeline.release();
  await acked;
}

describe('ingest of redeliveries of messages it still holds', () => {
  it('queues no redelivery of a held message, and acknowledges it on the new connection once the held copy commits', async () => {
    const { broker, pipeline, ingest, seen } = await start();
    const first = await connection(broker, 1);
    await deliverAll(pipeline, first, ['a', 'b', 'c']);
    // a is being committed; b and c wait for the next batch.
    expect(ingest.queued).toBe(2);

    const second = await flap(broker, first);
    await redeliverThen(pipeline, second, ['a', 'b', 'c'], 'd', 4);
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    expect(ingest.queued).toBe(3);

    await releaseUntilAck(pipeline, second, 4);
    expect(pubacks(second)).toEqual([1, 2, 3, 4]);
    expect(pubacks(first)).toEqual([]);
    expect(pipeline.committed).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('matches the redelivery again after a second reconnect, and acknowledges it on the newest connection', async () => {
    const { broker, pipeline, ingest, seen } = await start();
    const first = await connection(broker, 1);
    await deliverAll(pipeline, first, ['a', 'b']);
    const second = await flap(broker, first);
    await redeliverThen(pipeline, second, ['a', 'b'], 'y', 3);
    // a, b and y are held now for the second connection, which ends in turn.
    const third = await flap(broker, second);
    await redeliverThen(pipeline, third, ['a', 'b', 'y'], 'x', 4);
    expect(seen).toEqual(['a', 'b', 'y', 'x']);
    expect(ingest.queued).toBe(3);

    await releaseUntilAck(pipeline, third, 4);
    expect(pubacks(third)).toEqual([1, 2, 3, 4]);
    expect(pubacks(second)).toEqual([]);
    expect(pipeline.committed).toEqual([['a'], ['b', 'y', 'x']]);
  });

  it('commits held messages the broker never redelivers (its session lost)', async () => {
    const { broker, pipeline, ingest } = await start(false);
    const first = await connection(broker, 1);
    await deliverAll(pipeline, first, ['a', 'b']);
    const second = await flap(broker, first);
    await redeliverThen(pipeline, second, [], 'c');
    expect(ingest.queued).toBe(2);

    const decided = collectFrom(ingest.outcomes, 3);
    pipeline.release();
    await decided;
    expect(pipeline.committed).toEqual([['a'], ['b', 'c']]);
    await second.next((p) => p.cmd === 'puback' && p.messageId === 1);
    expect(pubacks(second)).toEqual([1]);
  });

  it('takes a redelivery arriving after the held copy committed as a message of its own', async () => {
    const { broker, pipeline, ingest, seen } = await start();
    const first = await connection(broker, 1);
    await deliverAll(pipeline, first, ['a', 'b']);
    const second = await flap(broker, first);
    // x arrives first: a and b are then held from an ended connection and may be redelivered.
    await redeliverThen(pipeline, second, [], 'x');
    const decided = collectFrom(ingest.outcomes, 3);
    pipeline.release();
    await decided;

    // The broker redelivers a and b only now, after their held copies were committed.
    const again = collectFrom(pipeline.checked, 2);
    const lastAck = second.next((p) => p.cmd === 'puback' && p.messageId === 3);
    deliver(second, ['a', 'b'], { firstId: 2, dup: true });
    await again;
    await lastAck;
    expect(pubacks(second)).toEqual([1, 2, 3]);
    expect(seen).toEqual(['a', 'b', 'x', 'a', 'b']);
  });
});
