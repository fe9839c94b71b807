// Publisher for bench/mqtt-subscriber.bench.ts, in a worker thread so that its CPU time does not
// count against the subscriber being measured. It keeps at most `window` messages between
// publishing and the subscriber's receipt (read from shared memory): Mosquitto drops QoS 1
// messages for a subscriber beyond max_queued_messages (default 1000) plus its in-flight window.
import { parentPort, workerData } from 'node:worker_threads';
import { connectAsync } from 'mqtt';

export interface PublisherJob {
  url: string;
  topic: string;
  total: number;
  payloadBytes: number;
  window: number;
  /** Int32Array[0]: messages the subscriber has received so far. */
  received: SharedArrayBuffer;
}

const job = workerData as PublisherJob;
const received = new Int32Array(job.received);
const client = await connectAsync(job.url, { clientId: `idg-bench-pub-${process.pid}-${Date.now()}` });
const padding = 'x'.repeat(job.payloadBytes);
const pending: Array<Promise<unknown>> = [];
for (let i = 0; i < job.total; i++) {
  while (i - Atomics.load(received, 0) >= job.window) await new Promise((resolve) => setImmediate(resolve));
  const payload = `{"seq":${i},"pad":"${padding}"}`.slice(0, job.payloadBytes);
  pending.push(client.publishAsync(job.topic, payload, { qos: 1 }));
}
await Promise.all(pending);
await client.endAsync();
parentPort?.postMessage('published');
