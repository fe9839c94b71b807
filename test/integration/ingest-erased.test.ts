import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestOutcome } from '../../src/dashboard/ingest/event-ingest.js';
import { type Envelope, SCHEMA_VERSION, signBatch, signEnvelope } from '../../src/protocol/envelope.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { mqttUrl } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { collectFrom } from '../helpers/wait.js';

const ids = new Uuidv7Generator();
const verdict = (o: IngestOutcome): string => (o.status === 'quarantined' ? o.rejection.reason : o.status);

/**
 * Events of a person erased on request that arrive afterwards — still in an offline gateway's
 * outbox, or badged at a gateway that has not yet received the credential set without them — are
 * not stored: their numbers are claimed, quarantine keeps only what names them, no alarm is raised.
 */
describe('ingest of events of an erased person', () => {
  let system: TestSystem;
  let raw: MqttClient;
  const key = generateSigningKeyPair();
  const gateway = 'gw-late';
  const person = 'agent-erased-late';
  const badge = 'BADGE-LATE-0001';
  let seq = 0;

  beforeAll(async () => {
    system = await startTestSystem();
    raw = await connectAsync(mqttUrl(), { clientId: `idg-raw-erased-${system.site}` });
    await system.dashboard.trustGateway(system.site, gateway, exportPublicKey(key.publicKey));
    const { people } = system.dashboard;
    await people.upsertPerson({ id: person, displayName: 'Late Person' });
    await people.addBadge(badge, person);
    await people.grantSite(person, system.site);
    // The gateway's first event, stored while the person is enrolled.
    const outcomes = await publish([
      event('access.granted', { person, badge, factors: ['badge'], unlockMs: 5000 }),
    ]);
    expect(outcomes.map(verdict)).toEqual(['stored']);
    await system.dashboard.retention.erasePerson(person, { reference: 'DSR-TEST-1' }, 'staff:test');
  });

  afterAll(async () => {
    await raw?.endAsync();
    await system?.stop();
  });

  function event(kind: string, data: Record<string, unknown>, at = new Date()): Envelope {
    return signEnvelope(
      {
        v: SCHEMA_VERSION,
        id: ids.next(),
        site: system.site,
        gateway,
        seq: ++seq,
        time: at.toISOString(),
        kind,
        data: { door: 'main', direction: 'in', ...data },
      } as Envelope,
      key.privateKey,
    );
  }

  function publish(events: Envelope[]): Promise<IngestOutcome[]> {
    const topic = topics.events(system.site, gateway);
    const outcomes = collectFrom(system.dashboard.ingest.outcomes, events.length, (o) => o.topic === topic);
    void raw.publishAsync(topic, JSON.stringify(signBatch(system.site, gateway, events, key.privateKey)), {
      qos: 1,
    });
    return outcomes;
  }

  const query = async <T extends object>(sql: string, params: unknown[]) =>
    (await system.dashboard.pool.query<T>(sql, params)).rows;

  it('does not store them, claims their numbers, keeps only what names them and raises no alarm', async () => {
    const before = new Date(Date.now() - 3_600_000);
    const granted = event('access.granted', { person, badge, factors: ['badge'], unlockMs: 5000 }, before);
    const denied = event('access.denied', { badge, reason: 'unknown-badge' }, before);
    const other = event('door.locked', {});
    delete (other.data as Record<string, unknown>).direction;
    const outcomes = await publish([granted, denied, other]);

    expect(outcomes.map(verdict)).toEqual(['erased-person', 'erased-person', 'stored']);
    const stored = await query<{ id: string }>('SELECT id::text FROM events WHERE id = ANY($1::uuid[])', [
      [granted.id, denied.id, other.id],
    ]);
    expect(stored).toEqual([{ id: other.id }]);
    const claims = await query<{ seq: number; quarantined: boolean }>(
      'SELECT seq::int, quarantined FROM event_sequences WHERE site = $1 AND gateway = $2 ORDER BY seq',
      [system.site, gateway],
    );
    expect(claims).toEqual([
      { seq: 1, quarantined: false },
      { seq: granted.seq, quarantined: true },
      { seq: denied.seq, quarantined: true },
      { seq: other.seq, quarantined: false },
    ]);
    const kept = await query<{ reason: string; payload: Buffer }>(
      `SELECT reason, payload FROM quarantine WHERE topic = $1 ORDER BY id`,
      [topics.events(system.site, gateway)],
    );
    expect(kept.map((row) => row.reason)).toEqual(['erased-person', 'erased-person']);
    for (const row of kept) {
      const payload = JSON.parse(row.payload.toString());
      expect(Object.keys(payload).sort()).toEqual(['gateway', 'id', 'kind', 'seq', 'site', 'time', 'v']);
      expect(row.payload.toString()).not.toContain(person);
      expect(row.payload.toString()).not.toContain(badge);
    }
    const gaps = await system.dashboard.sequences.scanGaps();
    expect(gaps.find((g) => g.site === system.site && g.gateway === gateway)).toMatchObject({
      contiguousThrough: other.seq,
      highest: other.seq,
    });
    const alarms = await query<{ alarm: string }>(
      `SELECT alarm FROM alarms WHERE site = $1 AND alarm IN ('event-quarantined', 'sequence-gap')
          AND (gateway = $2 OR gateway IS NULL)`,
      [system.site, gateway],
    );
    expect(alarms).toEqual([]);

    // Sent again (the gateway's resend): duplicates, quarantined once.
    expect((await publish([granted, denied])).map(verdict)).toEqual(['duplicate', 'duplicate']);
    expect(
      await query('SELECT 1 FROM quarantine WHERE topic = $1', [topics.events(system.site, gateway)]),
    ).toHaveLength(2);
  });

  it("stores what happened after the erasure, and others' entries with the person as companion erased", async () => {
    const before = new Date(Date.now() - 3_600_000);
    // Bob's entry under the two-person rule, from before the erasure, arriving late.
    const bobs = event(
      'access.granted',
      {
        person: 'agent-bob',
        badge: 'BADGE-BOB',
        factors: ['badge', 'totp'],
        unlockMs: 5000,
        companion: person,
      },
      before,
    );
    // The leaver's old card, tried after the erasure: security staff must see it.
    const tried = event('access.denied', { badge, reason: 'unknown-badge' });
    expect((await publish([bobs, tried])).map(verdict)).toEqual(['stored', 'stored']);
    const stored = await query<{ id: string; data: Record<string, unknown> }>(
      'SELECT id::text, data FROM events WHERE id = ANY($1::uuid[]) ORDER BY seq',
      [[bobs.id, tried.id]],
    );
    expect(stored).toEqual([
      { id: bobs.id, data: expect.objectContaining({ person: 'agent-bob', companion: 'erased' }) },
      { id: tried.id, data: expect.objectContaining({ badge }) },
    ]);
    expect(JSON.stringify(stored)).not.toContain(person);
    // Without the gateway's signature, which with its public key would confirm a guessed companion.
    expect(await query('SELECT signature FROM events WHERE id = $1', [bobs.id])).toEqual([{ signature: '' }]);
    // The gateway's resend of it, as it signed it: the same event.
    expect((await publish([bobs])).map(verdict)).toEqual(['duplicate']);
  });

  it('takes the resend of an event whose companion a later erasure redacted as a duplicate', async () => {
    const carol = 'agent-carol-late';
    await system.dashboard.people.upsertPerson({ id: carol, displayName: 'Carol' });
    const bobs = event('access.granted', {
      person: 'agent-bob',
      badge: 'BADGE-BOB',
      factors: ['badge', 'totp'],
      unlockMs: 5000,
      companion: carol,
    });
    expect((await publish([bobs])).map(verdict)).toEqual(['stored']);
    await system.dashboard.retention.erasePerson(carol, { reference: 'DSR-TEST-2' }, 'staff:test');
    expect(
      await query<{ companion: string; signature: string }>(
        `SELECT data ->> 'companion' AS companion, signature FROM events WHERE id = $1`,
        [bobs.id],
      ),
    ).toEqual([{ companion: 'erased', signature: '' }]);
    expect((await publish([bobs])).map(verdict)).toEqual(['duplicate']);
    // Other content under its id is still refused.
    const { sig: _, ...unsigned } = bobs;
    const resigned = signEnvelope(
      { ...unsigned, data: { ...bobs.data, door: 'side' } } as Envelope,
      key.privateKey,
    );
    expect((await publish([resigned])).map(verdict)).toEqual(['replayed-id']);
  });

  it('holds no plain id in the tombstones', async () => {
    const rows = await query<{ digest: Buffer }>('SELECT digest FROM erasure_tombstones', []);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const { digest } of rows) {
      expect(digest).toHaveLength(32);
      expect(digest.toString('latin1')).not.toContain(person);
    }
  });

  it("stores the events of the erased person's badge once it is handed to someone else", async () => {
    await system.dashboard.people.upsertPerson({ id: 'agent-next-holder', displayName: 'Next Holder' });
    await system.dashboard.people.addBadge(badge, 'agent-next-holder');
    const granted = event('access.granted', {
      person: 'agent-next-holder',
      badge,
      factors: ['badge'],
      unlockMs: 5000,
    });
    expect((await publish([granted])).map(verdict)).toEqual(['stored']);
  });
});
