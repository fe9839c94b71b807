import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestOutcome } from '../../src/dashboard/ingest/event-ingest.js';
import { type Envelope, SCHEMA_VERSION, signEnvelope } from '../../src/protocol/envelope.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { nextFrom } from '../helpers/wait.js';

const ids = new Uuidv7Generator();

describe('dashboard ingest of hostile and repeated payloads', () => {
  let system: TestSystem;
  let raw: MqttClient;
  let seq = 1000;
  const forger = generateSigningKeyPair();

  beforeAll(async () => {
    system = await startTestSystem();
    raw = await connectAsync(mqttUrl(), { clientId: `idg-raw-${system.site}` });
  });

  afterAll(async () => {
    await raw?.endAsync();
    await system?.stop();
  });

  function envelope(overrides: Partial<Envelope> = {}, key = forger.privateKey): Envelope {
    return signEnvelope(
      {
        v: SCHEMA_VERSION,
        id: ids.next(),
        site: system.site,
        gateway: 'gw-1',
        seq: seq++,
        time: new Date().toISOString(),
        kind: 'door.forced',
        data: { door: 'main' },
        ...overrides,
      } as Envelope,
      key,
    );
  }

  async function publish(
    payload: string | Buffer,
    topic = topics.events(system.site, 'gw-1'),
  ): Promise<IngestOutcome> {
    const outcome = nextFrom(system.dashboard.ingest.outcomes, (o) => o.topic === topic);
    await raw.publishAsync(topic, payload, { qos: 1 });
    return outcome;
  }

  it.each([
    ['not JSON', () => '{"v":1,', 'bad-json'],
    ['invalid UTF-8', () => Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), 'bad-json'],
    ['an envelope of the wrong shape', () => JSON.stringify({ hello: 'world' }), 'bad-envelope'],
    ['an unknown kind', () => JSON.stringify({ ...envelope(), kind: 'door.vanished' }), 'unknown-kind'],
    ['data of the wrong shape', () => JSON.stringify({ ...envelope(), data: { door: 42 } }), 'bad-data'],
    ['a forged signature', () => JSON.stringify(envelope()), 'bad-signature'],
  ])('quarantines %s and stores nothing', async (_name, payload, reason) => {
    const outcome = await publish(payload());
    expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason } });
    const rows = await system.dashboard.pool.query(
      'SELECT reason, topic FROM quarantine ORDER BY id DESC LIMIT 1',
    );
    expect(rows.rows[0]).toEqual({ reason, topic: topics.events(system.site, 'gw-1') });
  });

  it("quarantines an event published on another gateway's topic", async () => {
    const real = system.gateway.record({ kind: 'door.locked', data: { door: 'main' } });
    await system.gateway.drained();
    const outcome = await publish(
      JSON.stringify({ ...real, id: ids.next() }),
      topics.events(system.site, 'gw-2'),
    );
    expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'topic-mismatch' } });
  });

  it('stores a redelivered event once', async () => {
    const stored = nextFrom(
      system.dashboard.ingest.outcomes,
      (o) => o.status === 'stored' && o.event.kind === 'door.held-open',
    );
    const sent = system.gateway.record({ kind: 'door.held-open', data: { door: 'main', openMs: 31_000 } });
    await stored;
    expect(await publish(JSON.stringify(sent))).toEqual({ status: 'duplicate', topic: expect.any(String) });
    const rows = await system.dashboard.pool.query('SELECT count(*)::int AS n FROM events WHERE id = $1', [
      sent.id,
    ]);
    expect(rows.rows[0]).toEqual({ n: 1 });
  });

  it('quarantines a validly signed replay that reuses a sequence number for another event', async () => {
    // A real gateway key is needed to get past the signature check: this is what a stolen key could do.
    const stored = nextFrom(
      system.dashboard.ingest.outcomes,
      (o) => o.status === 'stored' && o.event.kind === 'door.opened',
    );
    const sent = system.gateway.record({ kind: 'door.opened', data: { door: 'main', authorised: true } });
    await stored;
    const key = (system.gateway as unknown as { identity: { privateKey: import('node:crypto').KeyObject } })
      .identity.privateKey;
    const replay = envelope(
      { seq: sent.seq, kind: 'door.closed', data: { door: 'main', openMs: 1 } } as Partial<Envelope>,
      key,
    );
    expect(await publish(JSON.stringify(replay))).toMatchObject({
      status: 'quarantined',
      rejection: { reason: 'replayed-sequence' },
    });
  });

  it('keeps ingesting genuine events after all of that', async () => {
    const stored = nextFrom(
      system.dashboard.ingest.outcomes,
      (o) => o.status === 'stored' && o.event.kind === 'door.closed',
    );
    system.gateway.record({ kind: 'door.closed', data: { door: 'main', openMs: 2000 } });
    expect(await stored).toMatchObject({ status: 'stored' });
  });
});
