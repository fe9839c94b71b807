import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { IngestOutcome } from '../../src/dashboard/ingest/event-ingest.js';
import { batchPayload } from '../../src/protocol/envelope.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';

/**
 * What the database refuses, through the real broker and ingest: an event it can never store
 * (here a trigger refuses one door's rows, as a constraint would) is quarantined as `unstorable`
 * with an alarm while the rest of its batch is stored; a database that cannot store anything for
 * a while (a full disk) is waited for, and nothing in the meantime is judged by its content; and
 * a quarantine that fails too is tried again instead of stopping the ingest.
 */
const keys = generateSigningKeyPair();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Makes PostgreSQL refuse every event of door `poison`, as a constraint would. */
const REFUSE_POISON = `
  CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF NEW.door = 'poison' THEN RAISE EXCEPTION 'poisoned row' USING ERRCODE = 'check_violation'; END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER test_refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_refuse_poison();`;

async function rig() {
  const site = uniqueSite('uns');
  const { dashboard, stop } = await startIngestDashboardOnNewDatabase({
    site,
    gateways: ['gw-1'],
    publicKey: keys.publicKey,
  });
  cleanups.push(stop);
  const gateway = await mqtt.connectAsync(mqttUrl(), { clientId: `gw-${site}` });
  cleanups.push(() => gateway.endAsync());
  let seq = 0;
  /** Publishes a door event of `door` as gw-1 would; returns its id. */
  const publish = async (door: string): Promise<string> => {
    const event = signedEvent(
      { site, gateway: 'gw-1', seq: ++seq, kind: 'door.locked', data: { door } },
      keys.privateKey,
    );
    await gateway.publishAsync(topics.events(site, 'gw-1'), JSON.stringify(event), { qos: 1 });
    return event.id;
  };
  /** The outcomes of the next n events the ingest decides. */
  const outcomes = (n: number) =>
    new Promise<Array<IngestOutcome & { topic: string }>>((resolve) => {
      const seen: Array<IngestOutcome & { topic: string }> = [];
      const off = dashboard.ingest.outcomes.on((outcome) => {
        seen.push(outcome);
        if (seen.length === n) {
          off();
          resolve(seen);
        }
      });
    });
  const storedIds = async () =>
    (
      await dashboard.pool.query<{ id: string }>('SELECT id FROM events WHERE site = $1 ORDER BY seq', [site])
    ).rows.map((r) => r.id);
  return { site, dashboard, gateway, publish, outcomes, storedIds };
}

describe('events the database refuses', () => {
  it('quarantines one that can never be stored, with an alarm, and stores the rest of its batch', async () => {
    const { dashboard, publish, outcomes, storedIds } = await rig();
    await dashboard.pool.query(REFUSE_POISON);
    const decided = outcomes(3);
    const good = await publish('main');
    await publish('poison');
    const after = await publish('main');
    const results = await decided;
    expect(results.map((o) => o.status).sort()).toEqual(['quarantined', 'stored', 'stored']);
    expect(results.find((o) => o.status === 'quarantined')).toMatchObject({
      rejection: { reason: 'unstorable', detail: expect.stringContaining('poisoned row') },
    });
    expect(await storedIds()).toEqual([good, after]);
    const kept = await dashboard.pool.query(
      `SELECT reason, convert_from(payload, 'UTF8')::jsonb->'data' AS data FROM quarantine`,
    );
    expect(kept.rows).toEqual([{ reason: 'unstorable', data: { door: 'poison' } }]);
    const alarms = await dashboard.pool.query(
      `SELECT alarm, key, severity FROM alarms WHERE alarm = 'event-quarantined'`,
    );
    expect(alarms.rows).toEqual([
      { alarm: 'event-quarantined', key: 'event-quarantined:unstorable', severity: 'critical' },
    ]);
    // Its number is taken by the quarantined event: no gap is left for the scanner to ask after.
    const numbers = await dashboard.pool.query('SELECT seq::int FROM event_sequences ORDER BY seq');
    expect(numbers.rows).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }]);
  });

  it('keeps each event of a batch it took apart in quarantine as itself, not as the whole batch', async () => {
    const { site, dashboard, gateway, publish, outcomes } = await rig();
    await dashboard.pool.query(REFUSE_POISON);
    const first = outcomes(1);
    await publish('main'); // number 1
    await first;
    const event = (seq: number, door: string) =>
      signedEvent({ site, gateway: 'gw-1', seq, kind: 'door.locked', data: { door } }, keys.privateKey);
    // A signed batch that cannot be stored as a whole (the poison), with a replay of number 1.
    const poison = event(2, 'poison');
    const replay = event(1, 'side');
    const decided = outcomes(3);
    await gateway.publishAsync(
      topics.events(site, 'gw-1'),
      batchPayload(site, 'gw-1', [poison, replay, event(3, 'main')], keys.privateKey),
      { qos: 1 },
    );
    const results = await decided;
    expect(results.map((o) => (o.status === 'quarantined' ? o.rejection.reason : o.status))).toEqual([
      'unstorable',
      'replayed-sequence',
      'stored',
    ]);
    const kept = await dashboard.pool.query(
      `SELECT reason, convert_from(payload, 'UTF8')::jsonb->>'id' AS id FROM quarantine ORDER BY id`,
    );
    expect(kept.rows).toEqual([
      { reason: 'unstorable', id: poison.id },
      { reason: 'replayed-sequence', id: replay.id },
    ]);
  });

  it('waits out a full disk instead of quarantining what it could not store meanwhile', async () => {
    const { dashboard, publish, outcomes, storedIds } = await rig();
    // The first four inserts fail as on a full disk (SQLSTATE 53100), then the disk has room.
    await dashboard.pool.query(`
      CREATE SEQUENCE test_full_disk;
      CREATE FUNCTION test_full_disk() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('test_full_disk') <= 4 THEN
          RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_full_disk BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_full_disk();`);
    const decided = outcomes(1);
    const id = await publish('main');
    expect((await decided).map((o) => o.status)).toEqual(['stored']);
    expect(await storedIds()).toEqual([id]);
    const attempts = await dashboard.pool.query<{ n: string }>('SELECT last_value AS n FROM test_full_disk');
    expect(Number(attempts.rows[0]?.n)).toBe(5);
    expect((await dashboard.pool.query('SELECT * FROM quarantine')).rows).toEqual([]);
  });

  it('tries again when the quarantine itself fails, and the ingest goes on', async () => {
    const { dashboard, publish, outcomes, storedIds } = await rig();
    await dashboard.pool.query(REFUSE_POISON);
    await dashboard.pool.query(`
      CREATE SEQUENCE test_quarantine_attempts;
      CREATE FUNCTION test_refuse_quarantine() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('test_quarantine_attempts') <= 2 THEN RAISE EXCEPTION 'quarantine refused'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_refuse_quarantine BEFORE INSERT ON quarantine FOR EACH ROW EXECUTE FUNCTION test_refuse_quarantine();`);
    const decided = outcomes(2);
    await publish('poison');
    const later = await publish('main');
    expect((await decided).map((o) => o.status).sort()).toEqual(['quarantined', 'stored']);
    expect(await storedIds()).toEqual([later]);
    const attempts = await dashboard.pool.query<{ n: string }>(
      'SELECT last_value AS n FROM test_quarantine_attempts',
    );
    expect(Number(attempts.rows[0]?.n)).toBe(3);
  });
});
