import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceTracker } from '../../src/controllers/presence/presence-tracker.js';
import { applyPresenceEvent } from '../../src/dashboard/presence/presence-events.js';
import { EventStore } from '../../src/dashboard/storage/event-store.js';
import { LatestFactsStore } from '../../src/dashboard/storage/latest-facts.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { WorkstationStore } from '../../src/dashboard/storage/workstation-store.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { signedEvent } from '../helpers/events.js';
import { createTestDatabase } from '../helpers/services.js';

const HOUR = 3_600_000;
const LEASE = 8 * HOUR;

/** What a dashboard start reads to rebuild presence, against the real tables the ingest fills. */
describe('presence rebuilt at a start, from the stored events and the overview facts', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let events: EventStore;
  let facts: LatestFactsStore;
  let store: WorkstationStore;
  const key = generateSigningKeyPair().privateKey;
  let seq = 0;
  const trackers: PresenceTracker[] = [];

  /** Stores one event as the ingest does: the row, then the overview's facts. */
  const store1 = async (site: string, gateway: string, kind: string, data: object, agoMs: number) => {
    const time = new Date(Date.now() - agoMs).toISOString();
    seq += 1;
    await events.ensurePartitions([time.slice(0, 10)]);
    const stored = await events.insert(
      events.prepareInsert([signedEvent({ site, gateway, seq, kind, data, time }, key)]),
    );
    await facts.apply(stored);
  };

  /** A tracker fed what a start would read now, as PresenceService.start applies it. */
  const rebuilt = async () => {
    const tracker = new PresenceTracker(
      { leaseMs: LEASE },
      { clock: systemClock, roomOfDoor: () => 'ident-1', onChange: () => undefined },
    );
    const rows = await store.presenceEventsSince(Date.now() - LEASE);
    for (const row of rows) applyPresenceEvent(tracker, row);
    trackers.push(tracker);
    return { tracker, rows };
  };
  const entry = { door: 'main', direction: 'in', badge: 'b-ada', person: 'ada' };

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool, silentLogger);
    events = new EventStore(pool);
    facts = new LatestFactsStore(pool);
    store = new WorkstationStore(pool);
  });

  afterAll(async () => {
    for (const tracker of trackers) tracker.stop();
    await pool.end();
    await database.drop();
  });

  it('knows an evacuation still in force that began more than a lease before the start', async () => {
    await store1('hq', 'gw-1', 'evacuation.changed', { active: true }, 30 * HOUR);
    await store1('hq', 'gw-1', 'access.granted', entry, HOUR);
    const { tracker, rows } = await rebuilt();
    // The evacuation first, then the entry it keeps from opening a presence.
    expect(rows.map((r) => r.kind)).toEqual(['evacuation.changed', 'access.granted']);
    expect(rows[0]).not.toHaveProperty('seq');
    expect(tracker.check('ada', { site: 'hq', room: 'ident-1' }).allow).toBe(false);
  });

  it('forgets it once it ended, however long ago it began', async () => {
    await store1('hq', 'gw-1', 'evacuation.changed', { active: false }, 20 * HOUR);
    await store1('hq', 'gw-1', 'access.granted', entry, HOUR / 2);
    const { tracker, rows } = await rebuilt();
    expect(rows.map((r) => r.kind)).toEqual(['access.granted', 'access.granted']);
    expect(tracker.check('ada', { site: 'hq', room: 'ident-1' }).allow).toBe(true);
  });

  it('holds while any gateway of the site still evacuates, and only at that site', async () => {
    await store1('hq', 'gw-2', 'evacuation.changed', { active: true }, 12 * HOUR);
    await store1('hq', 'gw-1', 'access.granted', entry, HOUR / 4);
    await store1('branch', 'gw-3', 'access.granted', { ...entry, person: 'bob', badge: 'b-bob' }, HOUR / 4);
    const { tracker } = await rebuilt();
    expect(tracker.check('ada', { site: 'hq', room: 'ident-1' }).allow).toBe(false);
    expect(tracker.check('bob', { site: 'branch', room: 'ident-1' }).allow).toBe(true);
  });
});
