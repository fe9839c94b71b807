import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestOutcome } from '../../src/dashboard/ingest/event-ingest.js';
import { EventAgeLimit } from '../../src/dashboard/retention/event-age-limit.js';
import { EventStore } from '../../src/dashboard/storage/event-store.js';
import { FakeClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import {
  batchPayload,
  type Envelope,
  MAX_BATCH_EVENTS,
  SCHEMA_VERSION,
  signBatch,
  signEnvelope,
} from '../../src/protocol/envelope.js';
import { exportPublicKey, generateSigningKeyPair, signBytes } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { collectFrom, nextFrom } from '../helpers/wait.js';

const ids = new Uuidv7Generator();

/** An outcome as a word: its status, or the reason it was quarantined for. */
const verdict = (o: IngestOutcome): string => (o.status === 'quarantined' ? o.rejection.reason : o.status);

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
    // Laid out as no serialiser would: quarantine must keep these bytes, not a re-serialisation.
    const asSent = JSON.stringify(replay, null, 1);
    expect(await publish(asSent)).toMatchObject({
      status: 'quarantined',
      rejection: { reason: 'replayed-sequence' },
    });
    const kept = await system.dashboard.pool.query<{ payload: Buffer }>(
      `SELECT payload FROM quarantine WHERE reason = 'replayed-sequence' ORDER BY id DESC LIMIT 1`,
    );
    expect(kept.rows[0]?.payload.toString()).toBe(asSent);
  });

  it('keeps ingesting genuine events after all of that', async () => {
    const stored = nextFrom(
      system.dashboard.ingest.outcomes,
      (o) => o.status === 'stored' && o.event.kind === 'door.closed',
    );
    system.gateway.record({ kind: 'door.closed', data: { door: 'main', openMs: 2000 } });
    expect(await stored).toMatchObject({ status: 'stored' });
  });

  describe('batches of events signed once', () => {
    const batcher = generateSigningKeyPair();
    const topic = () => topics.events(system.site, 'gw-b');
    let batchSeq = 0;

    beforeAll(async () => {
      await system.dashboard.trustGateway(system.site, 'gw-b', exportPublicKey(batcher.publicKey));
    });

    function event(overrides: Partial<Envelope> = {}): Envelope {
      return envelope({ gateway: 'gw-b', seq: ++batchSeq, ...overrides }, batcher.privateKey);
    }

    async function publishBatch(payload: unknown, count: number, on = topic()): Promise<IngestOutcome[]> {
      const wire = Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      const outcomes = collectFrom(system.dashboard.ingest.outcomes, count, (o) => o.topic === on);
      await raw.publishAsync(on, wire, { qos: 1 });
      return outcomes;
    }

    async function storedIds(ids: string[]): Promise<string[]> {
      const rows = await system.dashboard.pool.query<{ id: string }>(
        'SELECT id::text FROM events WHERE id = ANY($1::uuid[]) ORDER BY seq',
        [ids],
      );
      return rows.rows.map((r) => r.id);
    }

    async function lastQuarantined(): Promise<{ reason: string; detail: string; payload: Buffer }> {
      const rows = await system.dashboard.pool.query(
        'SELECT reason, detail, payload FROM quarantine ORDER BY id DESC LIMIT 1',
      );
      return rows.rows[0];
    }

    it('stores every event of a signed batch, one outcome each', async () => {
      const events = Array.from({ length: 50 }, () => event());
      const outcomes = await publishBatch(signBatch(system.site, 'gw-b', events, batcher.privateKey), 50);
      expect(outcomes.map((o) => (o.status === 'stored' ? o.event.id : o.status))).toEqual(
        events.map((e) => e.id),
      );
      expect(await storedIds(events.map((e) => e.id))).toEqual(events.map((e) => e.id));
    });

    it('stores a batch in the layout a gateway writes, verified over the bytes as they arrived', async () => {
      const events = Array.from({ length: 20 }, () => event());
      const outcomes = await publishBatch(batchPayload(system.site, 'gw-b', events, batcher.privateKey), 20);
      expect(outcomes.every((o) => o.status === 'stored')).toBe(true);
      expect(await storedIds(events.map((e) => e.id))).toEqual(events.map((e) => e.id));
    });

    it('quarantines a batch in the layout a gateway writes that was changed on the way', async () => {
      const events = [event(), event()];
      const wire = batchPayload(system.site, 'gw-b', events, batcher.privateKey)
        .toString('utf8')
        .replace(`"seq":${events[1]?.seq}`, `"seq":${(events[1]?.seq ?? 0) + 1000}`);
      const [outcome, ...more] = await publishBatch(Buffer.from(wire), 1);
      expect(more).toEqual([]);
      expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'bad-signature' } });
      expect((await lastQuarantined()).payload.toString()).toBe(wire);
      expect(await storedIds(events.map((e) => e.id))).toEqual([]);
    });

    it('stores a batch of the most events a batch may hold', async () => {
      const events = Array.from({ length: MAX_BATCH_EVENTS }, () =>
        event({ kind: 'door.held-open', data: { door: 'main', openMs: 31_000 } } as Partial<Envelope>),
      );
      const payload = signBatch(system.site, 'gw-b', events, batcher.privateKey);
      const outcomes = await publishBatch(payload, MAX_BATCH_EVENTS);
      expect(outcomes.filter((o) => o.status === 'stored')).toHaveLength(MAX_BATCH_EVENTS);
      expect(await storedIds(events.map((e) => e.id))).toHaveLength(MAX_BATCH_EVENTS);
    });

    it.each([
      [
        'signed with another key',
        (events: Envelope[]) => signBatch(system.site, 'gw-b', events, forger.privateKey),
      ],
      [
        'changed after signing',
        (events: Envelope[]) => {
          const batch = signBatch(system.site, 'gw-b', events, batcher.privateKey);
          return {
            ...batch,
            events: [batch.events[0], { ...(batch.events[1] as Envelope), time: new Date(0).toISOString() }],
          };
        },
      ],
      [
        'with an event dropped',
        (events: Envelope[]) => ({
          ...signBatch(system.site, 'gw-b', events, batcher.privateKey),
          events: [events[0]],
        }),
      ],
    ])('quarantines a batch %s whole, once, and stores none of it', async (_name, build) => {
      const events = [event(), event()];
      const batch = build(events);
      const [outcome, ...more] = await publishBatch(batch, 1);
      expect(more).toEqual([]);
      expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'bad-signature' } });
      const kept = await lastQuarantined();
      expect(kept.reason).toBe('bad-signature');
      expect(JSON.parse(kept.payload.toString())).toEqual(batch);
      expect(await storedIds(events.map((e) => e.id))).toEqual([]);
    });

    it("quarantines a batch published on another gateway's topic", async () => {
      const batch = signBatch(system.site, 'gw-b', [event()], batcher.privateKey);
      const [outcome] = await publishBatch(batch, 1, topics.events(system.site, 'gw-1'));
      expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'topic-mismatch' } });
      expect(await storedIds(batch.events.map((e) => (e as Envelope).id))).toEqual([]);
    });

    it('stores the sound events of a signed batch and quarantines each unsound one with its own bytes', async () => {
      const good = [event(), event()];
      const badData = { ...event(), data: { door: 42 } };
      const otherGateway = event({ gateway: 'gw-1' });
      const batch = signBatch(
        system.site,
        'gw-b',
        [good[0], badData, otherGateway, good[1]] as Envelope[],
        batcher.privateKey,
      );
      const outcomes = await publishBatch(batch, 4);
      expect(outcomes.map(verdict)).toEqual(['stored', 'bad-data', 'topic-mismatch', 'stored']);
      expect(await storedIds([...good, badData, otherGateway].map((e) => e.id))).toEqual(
        good.map((e) => e.id),
      );
      const rows = await system.dashboard.pool.query(
        'SELECT reason, detail, payload FROM quarantine ORDER BY id DESC LIMIT 2',
      );
      const [mismatchRow, badDataRow] = rows.rows;
      expect(JSON.parse(badDataRow.payload.toString())).toEqual(badData);
      expect(badDataRow.detail).toMatch(/^event 2 of 4 in a batch: /);
      expect(JSON.parse(mismatchRow.payload.toString())).toEqual(otherGateway);
    });

    it('tells a redelivered event from a replayed sequence number inside one batch', async () => {
      const first = event();
      await publishBatch(signBatch(system.site, 'gw-b', [first], batcher.privateKey), 1);
      const replay = event({ seq: first.seq });
      const fresh = event();
      const outcomes = await publishBatch(
        signBatch(system.site, 'gw-b', [first, replay, fresh], batcher.privateKey),
        3,
      );
      expect(outcomes.map(verdict)).toEqual(['duplicate', 'replayed-sequence', 'stored']);
      const kept = await lastQuarantined();
      expect(JSON.parse(kept.payload.toString())).toEqual(replay);
    });

    /** gw-c's numbers present in event_sequences, whatever holds them. */
    async function claimed(seqs: number[]): Promise<number[]> {
      const rows = await system.dashboard.pool.query<{ seq: number }>(
        `SELECT seq::int FROM event_sequences WHERE site = $1 AND gateway = 'gw-c' AND seq = ANY($2::bigint[]) ORDER BY seq`,
        [system.site, seqs],
      );
      return rows.rows.map((r) => r.seq);
    }
    const quarantineCount = async () =>
      (await system.dashboard.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM quarantine')).rows[0]
        ?.n;

    it('claims the number of a signed event it quarantines, so that no gap is left and a resend is not quarantined again', async () => {
      // A gateway of its own, whose numbers start at 1.
      await system.dashboard.trustGateway(system.site, 'gw-c', exportPublicKey(batcher.publicKey));
      let n = 0;
      const next = (overrides: Partial<Envelope> = {}) =>
        envelope({ gateway: 'gw-c', seq: ++n, ...overrides }, batcher.privateKey);
      const good = next();
      const badData = { ...next(), data: { door: 42 } };
      const unknownKind = { ...next(), kind: 'door.vanished' };
      const ahead = next({ time: new Date(Date.now() + 2 * 3_600_000).toISOString() });
      const last = next();
      const batch = signBatch(
        system.site,
        'gw-c',
        [good, badData, unknownKind, ahead, last] as Envelope[],
        batcher.privateKey,
      );
      const outcomes = await publishBatch(batch, 5, topics.events(system.site, 'gw-c'));
      expect(outcomes.map(verdict)).toEqual(['stored', 'bad-data', 'unknown-kind', 'future-time', 'stored']);
      expect(await claimed([1, 2, 3, 4, 5])).toEqual([1, 2, 3, 4, 5]);
      const gaps = await system.dashboard.sequences.scanGaps();
      expect(gaps.find((g) => g.site === system.site && g.gateway === 'gw-c')).toMatchObject({
        contiguousThrough: 5,
        highest: 5,
      });
      // The gateway sends it all again (a resend after a restart): nothing new is quarantined.
      const before = await quarantineCount();
      const again = await publishBatch(batch, 5, topics.events(system.site, 'gw-c'));
      expect(again.map((o) => o.status)).toEqual([
        'duplicate',
        'duplicate',
        'duplicate',
        'duplicate',
        'duplicate',
      ]);
      expect(await quarantineCount()).toBe(before);
    });

    it('quarantines an event dated more than an hour ahead, alone or in a batch, and stores one just within', async () => {
      const ahead = event({ time: new Date(Date.now() + 2 * 3_600_000).toISOString() });
      const outcome = await publish(JSON.stringify(ahead), topic());
      expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'future-time' } });
      const within = event({ time: new Date(Date.now() + 30 * 60_000).toISOString() });
      const [stored] = await publishBatch(signBatch(system.site, 'gw-b', [within], batcher.privateKey), 1);
      expect(stored?.status).toBe('stored');
    });

    it('quarantines an event dated before anything retention keeps (60 days here), and claims its number', async () => {
      const days = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
      const old = event({ time: days(61) });
      const recent = event({ time: days(59) });
      const outcomes = await publishBatch(
        signBatch(system.site, 'gw-b', [old, recent], batcher.privateKey),
        2,
      );
      expect(outcomes.map(verdict)).toEqual(['past-time', 'stored']);
      const claimed = await system.dashboard.pool.query(
        'SELECT quarantined FROM event_sequences WHERE site = $1 AND gateway = $2 AND seq = $3',
        [system.site, 'gw-b', old.seq],
      );
      expect(claimed.rows).toEqual([{ quarantined: true }]);
      // No partition was made for the old event's day.
      const partition = await system.dashboard.pool.query('SELECT to_regclass($1) AS p', [
        `events_p${days(61).slice(0, 10).replaceAll('-', '')}`,
      ]);
      expect(partition.rows).toEqual([{ p: null }]);
    });

    it("judges an event's age by its own site's retention and by the legal holds over its site", async () => {
      const pool = system.dashboard.pool;
      const limit = new EventAgeLimit(pool, 60, silentLogger);
      const now = Date.now();
      const daysAgo = (n: number) => now - n * 86_400_000;
      await limit.refresh();
      expect(limit.tooOld('s-1', 'door.locked', daysAgo(59), now)).toBeUndefined();
      expect(limit.tooOld('s-1', 'door.locked', daysAgo(61), now)).toEqual({ source: 'default', days: 60 });
      // A longer policy of another site, and a hold over another site, open nothing here.
      await pool.query(
        `INSERT INTO retention_policies (data_class, scope, scope_id, days, updated_by)
         VALUES ('access-events', 'site', 's-2', 3650, 'test'), ('video', 'site', 's-1', 90, 'test')`,
      );
      const holds = await pool.query<{ id: string }>(
        `INSERT INTO legal_holds (site, held_from, held_to, reason, created_by)
         VALUES ('s-2', $1, $2, 'case 1', 'test'), ('s-1', $3, $4, 'case 2', 'test') RETURNING id`,
        [new Date(daysAgo(500)), new Date(daysAgo(400)), new Date(daysAgo(200)), new Date(daysAgo(190))],
      );
      try {
        await limit.refresh();
        expect(limit.tooOld('s-1', 'door.locked', daysAgo(450), now)).toEqual({
          source: 'default',
          days: 60,
        });
        expect(limit.tooOld('s-2', 'door.locked', daysAgo(450), now)).toBeUndefined();
        // Video of s-1 has a policy of its own; a footage link goes with the shorter of the two.
        expect(limit.tooOld('s-1', 'camera.offline', daysAgo(80), now)).toBeUndefined();
        expect(limit.tooOld('s-1', 'video.footage-linked', daysAgo(80), now)).toEqual({
          source: 'default',
          days: 60,
        });
        // Inside the hold over s-1.
        expect(limit.tooOld('s-1', 'door.locked', daysAgo(195), now)).toBeUndefined();
        expect(limit.tooOld('s-1', 'door.locked', daysAgo(205), now)).toBeDefined();
      } finally {
        await pool.query(`DELETE FROM retention_policies WHERE scope_id IN ('s-1', 's-2')`);
        await pool.query('DELETE FROM legal_holds WHERE id = ANY($1::bigint[])', [
          holds.rows.map((r) => r.id),
        ]);
      }
    });

    it('keeps only what names an event quarantined as past-time, not what it says', async () => {
      const old = event({ time: new Date(Date.now() - 61 * 86_400_000).toISOString() });
      const outcome = await publish(JSON.stringify(old), topic());
      expect(outcome).toMatchObject({ status: 'quarantined', rejection: { reason: 'past-time' } });
      const kept = await lastQuarantined();
      expect(JSON.parse(kept.payload.toString())).toEqual({
        v: old.v,
        id: old.id,
        site: old.site,
        gateway: old.gateway,
        seq: old.seq,
        time: old.time,
        kind: old.kind,
      });
      expect(kept.detail).toBe(`dated ${old.time}, older than the 60 days retention keeps it (default)`);
    });

    it('makes the partition again for a day it knew, once retention may have dropped it', async () => {
      const clock = new FakeClock(Date.UTC(2030, 5, 1, 12));
      const store = new EventStore(system.dashboard.pool, clock);
      await store.ensurePartitions(['2030-06-01']);
      await system.dashboard.pool.query('DROP TABLE events_p20300601');
      clock.advance(3 * 86_400_000);
      await store.ensurePartitions(['2030-06-01']);
      const partition = await system.dashboard.pool.query(`SELECT to_regclass('events_p20300601') AS p`);
      expect(partition.rows).toEqual([{ p: 'events_p20300601' }]);
      await system.dashboard.pool.query('DROP TABLE events_p20300601');
    });

    it('quarantines one event of a batch that is too deep to handle, and stores the rest', async () => {
      const deep = `${'['.repeat(20_000)}"bottom"${']'.repeat(20_000)}`;
      const good = [event(), event()];
      const tooDeep = JSON.stringify({ ...event(), data: { door: 'main' } }).replace('"main"', deep);
      // Signed over the bytes as sent: JSON.stringify cannot write such an event.
      const bytes = `{"events":[${JSON.stringify(good[0])},${tooDeep},${JSON.stringify(good[1])}],"gateway":"gw-b","site":${JSON.stringify(system.site)},"v":1}`;
      const sig = signBytes(batcher.privateKey, Buffer.from(bytes));
      const outcomes = await publishBatch(Buffer.from(`${bytes.slice(0, -1)},"sig":"${sig}"}`), 3);
      expect(outcomes.map(verdict)).toEqual(['stored', 'bad-data', 'stored']);
    });

    it('refuses an event id sent again with other content, or under another number, and lets that number be used', async () => {
      const original = event();
      await publishBatch(signBatch(system.site, 'gw-b', [original], batcher.privateKey), 1);
      // Same id and number, other content: not a redelivery.
      const altered = { ...original, data: { door: 'back' } };
      // The same, with content that fails its checks: quarantined for that.
      const unsound = { ...original, data: { door: 42 } };
      // Same id and time under a new number, and the same id twice in one batch.
      const renumbered = event({ id: original.id, time: original.time });
      const first = event();
      const twice = event({ id: first.id, time: first.time });
      const outcomes = await publishBatch(
        signBatch(
          system.site,
          'gw-b',
          [altered, unsound, renumbered, first, twice] as Envelope[],
          batcher.privateKey,
        ),
        5,
      );
      expect(outcomes.map(verdict)).toEqual([
        'replayed-id',
        'bad-data',
        'replayed-id',
        'stored',
        'replayed-id',
      ]);
      const kept = await system.dashboard.pool.query(
        'SELECT kind, seq::int FROM events WHERE id = ANY($1::uuid[]) ORDER BY seq',
        [[original.id, first.id]],
      );
      expect(kept.rows).toEqual([
        { kind: original.kind, seq: original.seq },
        { kind: first.kind, seq: first.seq },
      ]);
      // The numbers the refused events named are free for the gateway's own events.
      const own = [event({ seq: renumbered.seq }), event({ seq: twice.seq })];
      const later = await publishBatch(signBatch(system.site, 'gw-b', own, batcher.privateKey), 2);
      expect(later.map((o) => o.status)).toEqual(['stored', 'stored']);
    });

    it('claims the number of a single signed event refused for its time or its text, and answers its resend as a duplicate', async () => {
      await system.dashboard.trustGateway(system.site, 'gw-d', exportPublicKey(batcher.publicKey));
      const on = topics.events(system.site, 'gw-d');
      const impossible = envelope(
        { gateway: 'gw-d', seq: 1, time: '2026-02-30T10:00:00.000Z' },
        batcher.privateKey,
      );
      const surrogate = envelope(
        {
          gateway: 'gw-d',
          seq: 2,
          kind: 'access.denied',
          data: { door: 'main', direction: 'in', badge: 'b', reason: 'wrong-code', detail: 'x\ud800y' },
        } as Partial<Envelope>,
        batcher.privateKey,
      );
      const good = envelope({ gateway: 'gw-d', seq: 3 }, batcher.privateKey);
      // The same event with a member added is not what the gateway signed: it names no number.
      const padded = {
        ...envelope({ gateway: 'gw-d', seq: 4, time: '2026-02-31T10:00:00.000Z' }, batcher.privateKey),
        extra: 1,
      };
      const outcomes = [];
      for (const event of [impossible, surrogate, good, padded])
        outcomes.push(await publish(JSON.stringify(event), on));
      expect(outcomes.map(verdict)).toEqual(['bad-envelope', 'bad-data', 'stored', 'bad-envelope']);
      const numbers = await system.dashboard.pool.query<{ seq: number; quarantined: boolean }>(
        `SELECT seq::int, quarantined FROM event_sequences WHERE site = $1 AND gateway = 'gw-d' ORDER BY seq`,
        [system.site],
      );
      expect(numbers.rows).toEqual([
        { seq: 1, quarantined: true },
        { seq: 2, quarantined: true },
        { seq: 3, quarantined: false },
      ]);
      const before = await quarantineCount();
      expect((await publish(JSON.stringify(impossible), on)).status).toBe('duplicate');
      expect(await quarantineCount()).toBe(before);
    });

    it('stores an event whose number was held in quarantine once it passes, and tells a copy with other content in one batch', async () => {
      const pipeline = system.dashboard.ingestPipeline;
      const on = topic();
      const later = event();
      const message = { topic: on, payload: Buffer.from(JSON.stringify(later)) };
      // First checked when it was dated too far ahead (as check() refuses it then) …
      const [[refused] = []] = await pipeline.process([
        {
          ...message,
          checked: [
            {
              ok: false,
              reason: 'future-time',
              detail: 'dated ahead',
              uses: { site: later.site, gateway: later.gateway, seq: later.seq, id: later.id },
            },
          ],
        },
      ]);
      expect(refused?.status).toBe('quarantined');
      // … then sent again once its time has come.
      const [[stored] = []] = await pipeline.process([{ ...message, checked: [{ ok: true, value: later }] }]);
      expect(stored?.status).toBe('stored');
      const held = await system.dashboard.pool.query(
        'SELECT quarantined FROM event_sequences WHERE site = $1 AND gateway = $2 AND seq = $3',
        [later.site, later.gateway, later.seq],
      );
      expect(held.rows).toEqual([{ quarantined: false }]);

      const twice = event();
      const copy = { ...twice };
      const changed = { ...twice, data: { door: 'back' } };
      const outcomes = await publishBatch(
        signBatch(system.site, 'gw-b', [twice, copy, changed] as Envelope[], batcher.privateKey),
        3,
      );
      expect(outcomes.map(verdict)).toEqual(['stored', 'duplicate', 'replayed-id']);
    });

    it('reads only the day partition of a redelivery to compare it with the stored event', async () => {
      const sent = event();
      await publishBatch(signBatch(system.site, 'gw-b', [sent], batcher.privateKey), 1);
      const client = await system.dashboard.pool.connect();
      try {
        await client.query(`SELECT identgate_ensure_event_partitions(current_date - 20, current_date + 5)`);
        await client.query('BEGIN');
        expect(await system.dashboard.events.differingFromStored([sent], client)).toEqual([]);
        const locked = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND c.relkind = 'r' AND c.relname LIKE 'events_p%'`,
        );
        expect(locked.rows[0]?.n).toBe(1);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    });

    it('lets one of two transactions with an event held in quarantine store it, and the other find it stored', async () => {
      const later = event();
      const uses = { site: later.site, gateway: later.gateway, seq: later.seq, id: later.id };
      const [[held] = []] = await system.dashboard.ingestPipeline.process([
        {
          topic: topic(),
          payload: Buffer.from(JSON.stringify(later)),
          checked: [{ ok: false, reason: 'future-time', detail: 'dated ahead', uses }],
        },
      ]);
      expect(held?.status).toBe('quarantined');
      // Two transactions (two instances, or two batches of one) both found it held when claiming.
      const sequences = system.dashboard.sequences;
      const [a, b] = [await system.dashboard.pool.connect(), await system.dashboard.pool.connect()];
      try {
        await a.query('BEGIN');
        await b.query('BEGIN');
        expect(await sequences.lockHeld([uses], a)).toEqual([uses]);
        const second = sequences.lockHeld([uses], b);
        const bPid = (b as unknown as { processID: number }).processID;
        const deadline = Date.now() + 10_000;
        while (
          !(
            await a.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [
              bPid,
            ])
          ).rowCount
        ) {
          if (Date.now() > deadline) throw new Error('the second did not wait for the first');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await sequences.storedAfterAll([uses], a);
        await a.query('COMMIT');
        // The second finds it held no longer: it compares it with the stored event instead.
        expect(await second).toEqual([]);
        await b.query('COMMIT');
      } finally {
        a.release();
        b.release();
      }
    });

    it('answers a redelivery of an event no longer stored (erased, or deleted by retention) as a duplicate', async () => {
      const gone = event();
      await publishBatch(signBatch(system.site, 'gw-b', [gone], batcher.privateKey), 1);
      await system.dashboard.pool.query('DELETE FROM events WHERE id = $1', [gone.id]);
      const before = await quarantineCount();
      const [again] = await publishBatch(signBatch(system.site, 'gw-b', [gone], batcher.privateKey), 1);
      expect(again?.status).toBe('duplicate');
      expect(await quarantineCount()).toBe(before);
    });

    it('quarantines a signed event refused twice in one batch once', async () => {
      const ahead = event({ time: new Date(Date.now() + 2 * 3_600_000).toISOString() });
      const before = await quarantineCount();
      const outcomes = await publishBatch(
        signBatch(system.site, 'gw-b', [ahead, { ...ahead }], batcher.privateKey),
        2,
      );
      expect(outcomes.map(verdict)).toEqual(['future-time', 'duplicate']);
      expect(await quarantineCount()).toBe((before ?? 0) + 1);
    });
  });
});
