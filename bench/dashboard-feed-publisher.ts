// The gateways of bench/dashboard.bench.ts, in a worker thread so that signing and publishing do
// not compete with the dashboard's event loop. Each event is signed as it is published, its `time`
// the moment of publishing: the latency a live client measures runs from there. One 'go' message
// per phase ({ seconds, measureFrom }); the worker answers with what it sent and keeps its
// per-gateway sequence numbers across phases, as a real gateway would.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { connectAsync } from 'mqtt';
import { type Envelope, SCHEMA_VERSION, signEnvelope } from '../src/protocol/envelope.js';
import { importPrivateKeyPem } from '../src/protocol/signing.js';
import { topics } from '../src/protocol/topics.js';
import { Uuidv7Generator } from '../src/protocol/uuidv7.js';

export interface FeedPublisherJob {
  url: string;
  site: string;
  /** Events per second, spread round-robin over the gateways. */
  rate: number;
  gateways: Array<{ id: string; privateKeyPem: string }>;
}

export interface FeedPhase {
  seconds: number;
  /** Epoch ms: events published from then on count as measured. */
  measureFrom: number;
}

export interface FeedPhaseResult {
  sent: number;
  measured: number;
  /** Events per second actually achieved. */
  rate: number;
}

const job = workerData as FeedPublisherJob;
const ids = new Uuidv7Generator();
const gateways = await Promise.all(
  job.gateways.map(async (g, i) => ({
    id: g.id,
    key: importPrivateKeyPem(g.privateKeyPem).privateKey,
    topic: topics.events(job.site, g.id),
    seq: 0,
    client: await connectAsync(job.url, { clientId: `idg-bench-feed-${process.pid}-${i}` }),
  })),
);

// One door cycle per person: badge, unlock, open, close, lock — the kinds the live page shows.
function body(n: number): Pick<Envelope, 'kind' | 'data'> {
  const door = `door-${n % 8}`;
  switch (Math.floor(n / 8) % 5) {
    case 0:
      return {
        kind: 'access.granted',
        data: {
          door,
          direction: 'in',
          person: `p${n % 500}`,
          badge: `B${n % 500}`,
          factors: ['badge', 'totp'],
          unlockMs: 5000,
        },
      };
    case 1:
      return { kind: 'door.unlocked', data: { door, cause: 'access', durationMs: 5000 } };
    case 2:
      return { kind: 'door.opened', data: { door, authorised: true } };
    case 3:
      return { kind: 'door.closed', data: { door, openMs: 2400 } };
    default:
      return { kind: 'door.locked', data: { door } };
  }
}

let n = 0;
async function publishOne(measureFrom: number): Promise<boolean> {
  const gateway = gateways[n % gateways.length] as (typeof gateways)[number];
  gateway.seq += 1;
  const now = Date.now();
  const envelope = signEnvelope(
    {
      v: SCHEMA_VERSION,
      id: ids.next(),
      site: job.site,
      gateway: gateway.id,
      seq: gateway.seq,
      time: new Date(now).toISOString(),
      ...body(n),
    } as Envelope,
    gateway.key,
  );
  n += 1;
  await gateway.client.publishAsync(gateway.topic, JSON.stringify(envelope), { qos: 1 });
  return now >= measureFrom;
}

// Paced by schedule, not by a fixed interval: after a stall the publisher catches up, so the
// average rate holds even when the machine is busy.
async function runPhase({ seconds, measureFrom }: FeedPhase): Promise<FeedPhaseResult> {
  const total = Math.round(job.rate * seconds);
  const start = performance.now();
  let sent = 0;
  let measured = 0;
  const inFlight = new Set<Promise<void>>();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * job.rate) / 1000) + 1);
    while (sent < due) {
      sent += 1;
      const p: Promise<void> = publishOne(measureFrom).then((m) => {
        if (m) measured += 1;
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  return { sent, measured, rate: (sent * 1000) / (performance.now() - start) };
}

parentPort?.on('message', (message: FeedPhase | 'stop') => {
  if (message === 'stop') {
    Promise.all(gateways.map((g) => g.client.endAsync())).then(() => parentPort?.close());
    return;
  }
  runPhase(message).then((result) => parentPort?.postMessage(result));
});
parentPort?.postMessage('ready');
