// Ingest transport: QoS 1 messages per second received and acknowledged through Mosquitto
// (BENCH_MQTT_URL, default the machine's 127.0.0.1:1883), 400-byte payloads.
// Baseline: MQTT.js with its default per-message PUBACK, which handles one PUBLISH at a time.
// Measured: MqttSubscriber, the application acking in batches of 500 after an async commit.
// Part 1 has an empty commit (pure transport); part 2 a 1 ms commit, the shape of the real
// ingest, where MQTT.js must commit message by message. Same publisher, same run; best of two.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { connectAsync, type IClientOptions } from 'mqtt';
import { type MqttMessage, MqttSubscriber } from '../src/dashboard/ingest/mqtt-subscriber.js';
import { silentLogger } from '../src/lib/logger.js';
import { fmt, row } from './bench-kit.js';
import type { PublisherJob } from './mqtt-bench-publisher.js';

const BROKER = process.env.BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TOTAL = 50_000;
/** MQTT.js with a 1 ms commit per message would take a minute for TOTAL; its rate shows in fewer. */
const SLOW_TOTAL = 2_000;
const PAYLOAD_BYTES = 400;
const BATCH = 500;
/**
 * Messages between publisher and subscriber. Mosquitto drops QoS 1 messages for a subscriber
 * beyond max_queued_messages (default 1000); in this setup it started dropping at a window of
 * 900 already, so the publisher stays well below.
 */
const WINDOW = 500;

interface Result {
  rate: number;
  /** Busy time of the subscriber's thread per message: its CPU cost, whatever the bottleneck. */
  busyMicros: number;
}

/** A subscriber under test: subscribed, counting receipts into `received[0]`, done when all are acked. */
interface Contender {
  done: Promise<void>;
  close(): Promise<void>;
}

async function measure(
  total: number,
  start: (topic: string, received: Int32Array) => Promise<Contender>,
): Promise<Result> {
  const topic = `idg-bench/${randomBytes(4).toString('hex')}`;
  const shared = new SharedArrayBuffer(4);
  const contender = await start(topic, new Int32Array(shared));
  const job: PublisherJob = {
    url: BROKER,
    topic,
    total,
    payloadBytes: PAYLOAD_BYTES,
    window: WINDOW,
    received: shared,
  };
  const began = performance.now();
  const loopBefore = performance.eventLoopUtilization();
  // Loader hooks are per thread: the worker registers tsx before it loads the TypeScript file.
  const file = new URL('./mqtt-bench-publisher.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(file)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: job });
  const published = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  await contender.done;
  const seconds = (performance.now() - began) / 1000;
  const loop = performance.eventLoopUtilization(loopBefore);
  await published;
  await worker.terminate();
  await contender.close();
  return { rate: total / seconds, busyMicros: (loop.active * 1000) / total };
}

/** MQTT.js; with `commitMs`, each message is committed in handleMessage before its PUBACK, as event-ingest.ts does. */
function mqttJs(total: number, options: IClientOptions, commitMs?: number) {
  return measure(total, async (topic, received) => {
    const client = await connectAsync(BROKER, { clientId: `idg-bench-mqttjs-${topic}`, ...options });
    const done = new Promise<void>((resolve) => {
      // MQTT.js emits 'message' first and sends the PUBACK once handleMessage calls back.
      client.on('message', () => {
        const count = Atomics.add(received, 0, 1) + 1;
        if (commitMs === undefined && count === total) resolve();
      });
      let committed = 0;
      if (commitMs !== undefined) {
        client.handleMessage = (_packet, callback) => {
          void sleep(commitMs).then(() => {
            callback();
            committed += 1;
            if (committed === total) resolve();
          });
        };
      }
    });
    await client.subscribeAsync(topic, { qos: 1 });
    return { done, close: () => client.endAsync() };
  });
}

function batchedSubscriber(total: number, commitMs: number) {
  return measure(total, async (topic, received) => {
    const sub = new MqttSubscriber({
      url: BROKER,
      clientId: `idg-bench-sub-${topic}`,
      clean: true,
      subscriptions: [{ topic, qos: 1 }],
      log: silentLogger,
    });
    const connected = new Promise((resolve) => sub.connected.on(resolve));
    let acked = 0;
    const done = new Promise<void>((resolve) => {
      let batch: MqttMessage[] = [];
      const commit = async (messages: MqttMessage[]) => {
        await (commitMs > 0 ? sleep(commitMs) : new Promise((r) => setImmediate(r)));
        for (const message of messages) message.ack();
        acked += messages.length;
        if (acked === total) resolve();
      };
      sub.messages.on((message) => {
        batch.push(message);
        const count = Atomics.add(received, 0, 1) + 1;
        if (batch.length === BATCH || count === total) {
          void commit(batch);
          batch = [];
        }
      });
    });
    sub.start();
    await connected;
    return { done, close: () => sub.stop() };
  });
}

async function bestOf(run: () => Promise<Result>): Promise<Result> {
  const first = await run();
  const second = await run();
  return first.rate >= second.rate ? first : second;
}

const baseline = await bestOf(() => mqttJs(TOTAL, { protocolVersion: 4 }));
const mqttJs5 = await bestOf(() =>
  mqttJs(TOTAL, { protocolVersion: 5, properties: { receiveMaximum: 1000 } }),
);
const batched = await bestOf(() => batchedSubscriber(TOTAL, 0));
const slowBaseline = await bestOf(() => mqttJs(SLOW_TOTAL, { protocolVersion: 4 }, 1));
const slowBatched = await bestOf(() => batchedSubscriber(TOTAL, 1));

const show = (label: string, result: Result, against?: Result) => {
  const ratio = against ? `${(result.rate / against.rate).toFixed(2)} x baseline` : undefined;
  row(label, `${fmt(result.rate)} msg/s`, ratio);
  row('  subscriber thread busy per message', `${result.busyMicros.toFixed(1)} µs`);
};
process.stdout.write(
  `QoS 1, ${PAYLOAD_BYTES}-byte payloads via ${BROKER}; empty commit, ${fmt(TOTAL)} messages\n`,
);
show('baseline: MQTT.js 3.1.1, PUBACK per message', baseline);
show('MQTT.js 5 (Receive Maximum 1000)', mqttJs5, baseline);
show(`MqttSubscriber 5, acks in batches of ${BATCH}`, batched, baseline);
process.stdout.write('1 ms async commit before the PUBACK\n');
show(`baseline: MQTT.js 3.1.1, per message (${fmt(SLOW_TOTAL)})`, slowBaseline);
show(`MqttSubscriber 5, per ${BATCH} (${fmt(TOTAL)})`, slowBatched, slowBaseline);
