// A gateway serving `events.resend` for BENCH_EVENTS journaled events (default 100,000) through
// a Mosquitto of the bench's own: how long its event loop is held up at most (what a badge or a
// door contact waits for meanwhile) and how fast the events go out. Baseline, in the same run on
// the same journal: the same events batched, signed and published in one turn of the event loop,
// as the gateway served a resend before it read and published a message at a time.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GatewayLink } from '../src/gateway/gateway-link.js';
import { type JournalRecord, OutboxJournal } from '../src/gateway/outbox/outbox-journal.js';
import { silentLogger } from '../src/lib/logger.js';
import { batchPayload, type Envelope, SCHEMA_VERSION } from '../src/protocol/envelope.js';
import { generateSigningKeyPair } from '../src/protocol/signing.js';
import { topics } from '../src/protocol/topics.js';
import { Uuidv7Generator } from '../src/protocol/uuidv7.js';
import { startTestBroker } from '../test/helpers/test-broker.js';
import { fmt, row } from './bench-kit.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const site = 'bench';
const keys = generateSigningKeyPair();
const dir = mkdtempSync(join(tmpdir(), 'idg-resend-bench-'));
const broker = await startTestBroker();
const journal = new OutboxJournal({ dir, log: silentLogger });
journal.recover();

/** The longest time between two turns of the event loop while `work` runs, and how long it took. */
async function measure(work: () => Promise<void>): Promise<{ longestStallMs: number; ms: number }> {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  running = false;
  // The turn that ends the work counts too.
  longest = Math.max(longest, performance.now() - last);
  return { longestStallMs: longest, ms };
}

try {
  // Events shaped as a gateway journals them (the signature's text only: nothing here verifies),
  // appended a hundred at a time, so that the journal's segments have their usual size (4 MiB).
  const ids = new Uuidv7Generator();
  const time = new Date().toISOString();
  const append = () =>
    journal.append((seq) =>
      Buffer.from(
        JSON.stringify({
          v: SCHEMA_VERSION,
          id: ids.next(),
          site,
          gateway: 'gw-1',
          seq,
          time,
          kind: 'access.granted',
          data: {
            door: 'main',
            direction: 'in',
            person: 'p-000001',
            badge: '0004711',
            factors: ['badge', 'totp'],
            unlockMs: 5000,
          },
          sig: 'A'.repeat(86),
        }),
      ),
    );
  for (let done = 0; done < EVENTS; done += 100) {
    const appended = Array.from({ length: Math.min(100, EVENTS - done) }, append);
    await Promise.all(appended.map((a) => a.durable));
  }
  for (let seq = 1; seq <= EVENTS; seq++) journal.ack(seq);

  const link = new GatewayLink({
    url: broker.url,
    clientId: 'idg-resend-bench',
    site,
    gateway: 'gw-1',
    journal,
    log: silentLogger,
    signingKey: keys.privateKey,
  });
  link.start();
  while (link.state !== 'online') await new Promise((resolve) => setTimeout(resolve, 20));

  // Baseline: read, then batched, signed and handed to the client in one turn.
  const all: JournalRecord[] = [];
  for await (const chunk of journal.read(1, EVENTS)) all.push(...chunk);
  const client = (link as unknown as { client: import('mqtt').MqttClient }).client;
  const topic = topics.events(site, 'gw-1');
  const once = await measure(async () => {
    const acked: Array<Promise<unknown>> = [];
    for (let start = 0; start < all.length; start += 100) {
      const events = all.slice(start, start + 100).map((r) => JSON.parse(r.payload.toString()) as Envelope);
      acked.push(client.publishAsync(topic, batchPayload(site, 'gw-1', events, keys.privateKey), { qos: 1 }));
    }
    await Promise.all(acked);
  });

  // The gateway's resend as it runs now.
  let sent = 0;
  const paced = await measure(async () => {
    sent = await link.republish(journal.read(1, EVENTS));
  });
  if (sent !== EVENTS) throw new Error(`sent ${sent} of ${EVENTS}`);

  row('baseline: all in one turn, longest stall', `${once.longestStallMs.toFixed(1)} ms`);
  row('  events resent per second', fmt((EVENTS * 1000) / once.ms));
  row(
    'resend a message at a time, longest stall',
    `${paced.longestStallMs.toFixed(1)} ms`,
    `${(paced.longestStallMs / once.longestStallMs).toFixed(3)} x baseline`,
  );
  row(
    '  events resent per second',
    fmt((EVENTS * 1000) / paced.ms),
    `${(once.ms / paced.ms).toFixed(2)} x baseline`,
  );
  await link.stop();
} finally {
  await journal.close();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
}
