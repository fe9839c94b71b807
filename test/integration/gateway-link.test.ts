import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayLink } from '../../src/gateway/gateway-link.js';
import { type JournalRecord, OutboxJournal } from '../../src/gateway/outbox/outbox-journal.js';
import { silentLogger } from '../../src/lib/logger.js';
import {
  batchSignatureInput,
  decodePayload,
  type Envelope,
  SCHEMA_VERSION,
  signEnvelope,
} from '../../src/protocol/envelope.js';
import { generateSigningKeyPair, verifyRawSignature } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { OwnMosquitto } from '../helpers/mosquitto.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';

const ids = new Uuidv7Generator();
const keys = generateSigningKeyPair();

/** What a subscriber on the gateway's events topic saw, payload by payload. */
interface Seen {
  form: 'event' | 'batch' | 'not an event';
  events: Envelope[];
  signatureHolds: boolean;
}

describe('gateway link: a backlog goes out in signed batches', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(count: number, garbage: ReadonlySet<number> = new Set()) {
    const site = uniqueSite('link');
    const journal = new OutboxJournal({ dir: mkdtempSync(join(tmpdir(), 'idg-link-')), log: silentLogger });
    journal.recover();
    const payload = (seq: number) =>
      garbage.has(seq)
        ? Buffer.from(`not json ${seq}`)
        : Buffer.from(
            JSON.stringify(
              signEnvelope(
                {
                  v: SCHEMA_VERSION,
                  id: ids.next(),
                  site,
                  gateway: 'gw-1',
                  seq,
                  time: new Date().toISOString(),
                  kind: 'door.locked',
                  data: { door: 'main' },
                },
                keys.privateKey,
              ),
            ),
          );
    /** Journals `n` events and resolves with their records once they are durable. */
    const append = async (n: number): Promise<JournalRecord[]> => {
      const records: JournalRecord[] = [];
      const appended = Array.from({ length: n }, () =>
        journal.append((seq) => {
          const bytes = payload(seq);
          records.push({ seq, payload: bytes });
          return bytes;
        }),
      );
      await Promise.all(appended.map((a) => a.durable));
      return records;
    };
    await append(count);
    const seen: Seen[] = [];
    const watcher: MqttClient = await connectAsync(mqttUrl(), { clientId: `idg-watch-${site}` });
    await watcher.subscribeAsync(topics.events(site, 'gw-1'), { qos: 1 });
    watcher.on('message', (_topic, payload) => {
      const decoded = decodePayload(payload);
      if (!decoded.ok) {
        seen.push({ form: 'not an event', events: [], signatureHolds: false });
        return;
      }
      if (decoded.value.form === 'event') {
        seen.push({ form: 'event', events: [decoded.value.envelope], signatureHolds: true });
        return;
      }
      const input = batchSignatureInput(decoded.value.batch, () => keys.publicKey);
      if (!input.ok) throw new Error(input.detail);
      seen.push({
        form: 'batch',
        events: decoded.value.batch.events as Envelope[],
        signatureHolds: verifyRawSignature(input.key, input.bytes, input.signature),
      });
    });
    cleanups.push(async () => {
      await watcher.endAsync();
      await journal.close();
    });
    const start = (options: { signingKey?: boolean; maxBatch?: number }) => {
      const link = new GatewayLink({
        url: mqttUrl(),
        clientId: `idg-link-${site}`,
        site,
        gateway: 'gw-1',
        journal,
        log: silentLogger,
        ...(options.signingKey ? { signingKey: keys.privateKey } : {}),
        ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}),
      });
      const allAcked = new Promise<void>((resolve) => {
        link.onAcked = () => {
          if (journal.size.records === 0) resolve();
        };
      });
      cleanups.push(() => link.stop());
      link.start();
      return { link, allAcked };
    };
    const delivered = (total: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (seen.reduce((n, s) => n + Math.max(1, s.events.length), 0) >= total) resolve();
          else watcher.once('message', () => setImmediate(check));
        };
        check();
      });
    return { journal, seen, start, delivered, append };
  }

  it('publishes waiting events as batches of at most maxBatch, in order, each signed by the gateway', async () => {
    const { seen, start, delivered, journal } = await rig(300);
    const { allAcked } = start({ signingKey: true, maxBatch: 40 });
    await allAcked;
    await delivered(300);
    expect(journal.size.records).toBe(0);
    expect(seen.map((s) => s.form)).toEqual(new Array(8).fill('batch'));
    expect(seen.map((s) => s.events.length)).toEqual([40, 40, 40, 40, 40, 40, 40, 20]);
    expect(seen.every((s) => s.signatureHolds)).toBe(true);
    expect(seen.flatMap((s) => s.events.map((e) => e.seq))).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
  });

  it('publishes every event on its own without a signing key', async () => {
    const { seen, start, delivered } = await rig(30);
    const { allAcked } = start({});
    await allAcked;
    await delivered(30);
    expect(seen.map((s) => s.form)).toEqual(new Array(30).fill('event'));
  });

  it('resends a requested range in batches too', async () => {
    const { seen, start, delivered, journal } = await rig(10);
    const { link, allAcked } = start({ signingKey: true, maxBatch: 4 });
    await allAcked;
    await delivered(10);
    seen.length = 0;
    expect(await link.republish(journal.read(3, 9))).toBe(7);
    await delivered(7);
    expect(seen.map((s) => s.events.map((e) => e.seq))).toEqual([
      [3, 4, 5, 6],
      [7, 8, 9],
    ]);
    expect(seen.every((s) => s.form === 'batch' && s.signatureHolds)).toBe(true);
  });

  it('gives way to the event loop after every message of a resend, so that the doors are not held up', async () => {
    const { seen, start, delivered, journal } = await rig(2000);
    const { link, allAcked } = start({ signingKey: true, maxBatch: 10 });
    await allAcked;
    await delivered(2000);
    seen.length = 0;
    // Messages published between two turns of something else the gateway does meanwhile.
    const client = (link as unknown as { client: MqttClient }).client;
    const publishAsync = client.publishAsync.bind(client);
    let sinceTurn = 0;
    let most = 0;
    client.publishAsync = ((...args: Parameters<typeof publishAsync>) => {
      sinceTurn += 1;
      most = Math.max(most, sinceTurn);
      return publishAsync(...args);
    }) as typeof client.publishAsync;
    let resending = true;
    const tick = () => {
      sinceTurn = 0;
      if (resending) setImmediate(tick);
    };
    setImmediate(tick);
    const sent = await link.republish(journal.read(1, 2000));
    resending = false;
    expect(sent).toBe(2000);
    // 200 messages of 10, and never more than one between two turns of the other work.
    expect(most).toBe(1);
    await delivered(2000);
    expect(seen.flatMap((s) => s.events.map((e) => e.seq))).toEqual(
      Array.from({ length: 2000 }, (_, i) => i + 1),
    );
  });

  it('gives up a resend the broker never acknowledges when the link stops, instead of waiting for ever', async () => {
    // A scripted broker that takes PUBLISH packets and acknowledges none.
    const broker = await FakeMqttBroker.start();
    cleanups.push(() => broker.close());
    const journal = new OutboxJournal({ dir: mkdtempSync(join(tmpdir(), 'idg-link-')), log: silentLogger });
    journal.recover();
    const appended = Array.from({ length: 100 }, () =>
      journal.append((seq) => Buffer.from(JSON.stringify({ seq }))),
    );
    await Promise.all(appended.map((a) => a.durable));
    const link = new GatewayLink({
      url: broker.url,
      clientId: 'idg-link-unacked',
      site: 'hq',
      gateway: 'gw-1',
      journal,
      log: silentLogger,
      window: 1,
      stopGraceMs: 100,
    });
    link.start();
    await until(() => link.state === 'online');
    const outcome = link.republish(journal.read(1, 100)).then(
      () => 'finished',
      (error: Error) => error.message,
    );
    // The resend's window of 16 is out, unacknowledged (behind the live event the window of 1 holds).
    const connection = await broker.connection(1);
    while (connection.received.filter((p) => p.cmd === 'publish').length < 17)
      await connection.next((p) => p.cmd === 'publish');
    const stopped = link.stop();
    expect(await outcome).toBe('the gateway is stopping');
    await stopped;
    await journal.close();
  });

  it('says when it is connected again after a lost connection, not at the first connection', async () => {
    const broker = await OwnMosquitto.start();
    cleanups.push(() => broker.dispose());
    const journal = new OutboxJournal({ dir: mkdtempSync(join(tmpdir(), 'idg-link-')), log: silentLogger });
    journal.recover();
    cleanups.push(() => journal.close());
    const link = new GatewayLink({
      url: broker.url,
      clientId: 'idg-link-reconnect',
      site: 'hq',
      gateway: 'gw-1',
      journal,
      log: silentLogger,
      stopGraceMs: 100,
    });
    let reconnects = 0;
    let resumed = false;
    link.onReconnected = (sessionPresent) => {
      reconnects += 1;
      resumed = sessionPresent;
    };
    cleanups.push(() => link.stop());
    link.start();
    await until(() => link.state === 'online');
    expect(reconnects).toBe(0);
    // The broker restarts with the gateway's session kept (persistence): nothing is subscribed
    // again, so nothing retained comes.
    await broker.restart();
    await until(() => reconnects === 1);
    expect(resumed).toBe(true);
    expect(link.state).toBe('online');
  });

  it('sends a journal record that is not JSON alone, as it is, and batches the rest around it', async () => {
    const { seen, start, delivered } = await rig(9, new Set([4]));
    const { allAcked } = start({ signingKey: true, maxBatch: 10 });
    await allAcked;
    await delivered(9);
    expect(seen.map((s) => [s.form, s.events.map((e) => e.seq)])).toEqual([
      ['batch', [1, 2, 3]],
      ['not an event', []],
      ['batch', [5, 6, 7, 8, 9]],
    ]);
  });

  it('publishes a burst handed over in one turn as one batch, and a lone event on its own', async () => {
    const { seen, start, delivered, append } = await rig(0);
    const { link } = start({ signingKey: true });
    await until(() => link.state === 'online');
    for (const record of await append(20)) link.enqueue(record);
    await delivered(20);
    const [lone] = await append(1);
    link.enqueue(lone as JournalRecord);
    await delivered(21);
    expect(seen.map((s) => [s.form, s.events.length])).toEqual([
      ['batch', 20],
      ['event', 1],
    ]);
  });
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
