import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/dashboard/storage/event-store.js';
import { LatestFactsStore } from '../../src/dashboard/storage/latest-facts.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';

const lockEvent = (kind: string, at: string, ingestNo: number, receivedAt = at): StoredEvent => ({
  id: `e-${ingestNo}`,
  ingestNo,
  kind,
  site: 's',
  gateway: 'g',
  seq: ingestNo,
  occurredAt: at,
  receivedAt,
  door: 'main',
  person: null,
  data: {},
});

describe('the overview facts table', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let facts: LatestFactsStore;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool, silentLogger);
    facts = new LatestFactsStore(pool);
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  const lock = async () =>
    (await pool.query(`SELECT kind FROM latest_facts WHERE facet = 'lock' AND subject = 'main'`)).rows[0]
      ?.kind;

  it('takes a newer event, and never turns back to an older one that arrives late', async () => {
    await facts.apply([lockEvent('door.unlocked', '2026-11-27T10:00:05Z', 2)]);
    expect(await lock()).toBe('door.unlocked');
    // A resent or delayed event from before: the state stays.
    await facts.apply([lockEvent('door.locked', '2026-11-27T10:00:00Z', 3)]);
    expect(await lock()).toBe('door.unlocked');
    await facts.apply([lockEvent('door.locked', '2026-11-27T10:00:10Z', 4)]);
    expect(await lock()).toBe('door.locked');
  });

  it('counts an event dated ahead of its arrival from its arrival, so a clock set right turns the state again', async () => {
    // The gateway's clock is 50 minutes fast; then it is set right.
    await facts.apply([lockEvent('door.unlocked', '2026-11-27T11:50:00Z', 7, '2026-11-27T11:00:00Z')]);
    expect(await lock()).toBe('door.unlocked');
    await facts.apply([lockEvent('door.locked', '2026-11-27T11:01:00Z', 8)]);
    expect(await lock()).toBe('door.locked');
    const kept = await pool.query(
      `SELECT occurred_at, seen_at FROM latest_facts WHERE facet = 'lock' AND subject = 'main'`,
    );
    expect(kept.rows).toEqual([
      { occurred_at: new Date('2026-11-27T11:01:00Z'), seen_at: new Date('2026-11-27T11:01:00Z') },
    ]);
  });

  it('takes several events of one door in one batch without a conflict', async () => {
    await facts.apply([
      lockEvent('door.unlocked', '2026-11-27T10:01:00Z', 5),
      lockEvent('door.locked', '2026-11-27T10:01:05Z', 6),
    ]);
    expect(await lock()).toBe('door.locked');
  });
});
