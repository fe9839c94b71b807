// The simulated gateways of bench/ingest.bench.ts, in a worker thread of their own so that
// publishing does not compete with the ingest for the main thread. Receives pre-signed payloads
// per gateway, publishes them with a window of in-flight messages, and writes each send time
// into the shared array it was given for that gateway.
import { parentPort, workerData } from 'node:worker_threads';
import { connectAsync } from 'mqtt';

const { url, batches } = workerData;
const clients = await Promise.all(batches.map((b) => connectAsync(url, { clientId: b.clientId })));
parentPort?.postMessage({ ready: true });
await new Promise((resolve) => parentPort?.once('message', resolve));
await Promise.all(
  clients.map(async (client, i) => {
    const { topic, payloads } = batches[i];
    let next = 0;
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < payloads.length) {
          const index = next++;
          batches[i].sent[index] = performance.timeOrigin + performance.now();
          await client.publishAsync(topic, payloads[index], { qos: 1 });
        }
      }),
    );
  }),
);
await Promise.all(clients.map((c) => c.endAsync()));
parentPort?.postMessage({ done: true });
