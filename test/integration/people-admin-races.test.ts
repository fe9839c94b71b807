import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * The people routes decide whether a person exists in the statement that writes, not only in a
 * check before it. A second connection holds a lock so that two requests both pass the route's
 * check before either writes; it waits for them to block on the lock (pg_stat_activity), not for
 * a fixed time. Against the real dashboard and PostgreSQL.
 */
describe('people: concurrent administrators', () => {
  let system: TestSystem;
  let admin: StaffClient;
  let db: pg.Client;
  let locker: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    admin = await system.staff('admin');
    db = new pg.Client({ connectionString: system.databaseUrl });
    locker = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
    await locker.connect();
  });

  afterAll(async () => {
    await locker?.end();
    await db?.end();
    await system?.stop();
  });

  const rows = async (sql: string, values: unknown[] = []) => (await db.query(sql, values)).rows;

  /** Resolves once `n` statements matching `like` wait for a lock. */
  const blocked = (like: string, n: number) =>
    vi.waitFor(
      async () => {
        const [row] = await rows(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
          [like],
        );
        expect(row?.n).toBe(n);
      },
      { timeout: 20_000, interval: 20 },
    );

  it('answers 409 to the second of two simultaneous creates of one person, and audits one creation', async () => {
    const id = 'rv-twice-created';
    await locker.query('BEGIN');
    // Reads pass a SHARE lock, inserts wait for it: both requests pass the existence check.
    await locker.query('LOCK TABLE people IN SHARE MODE');
    const first = admin.request('POST', '/api/v1/people', { id, displayName: 'First Person' });
    const second = admin.request('POST', '/api/v1/people', { id, displayName: 'Second Person' });
    await blocked('%INSERT INTO people%', 2);
    await locker.query('COMMIT');
    const answers = await Promise.all([first, second]);
    const created = await rows(
      `SELECT count(*)::int AS n FROM audit_log WHERE action = 'person.created' AND target = $1`,
      [`person:${id}`],
    );
    expect({ statuses: answers.map((a) => a.statusCode).sort(), entries: created[0]?.n }).toEqual({
      statuses: [201, 409],
      entries: 1,
    });
  });

  it('does not bring back a person erased while a change to them was on its way', async () => {
    const id = 'rv-erased';
    expect(
      (await admin.request('POST', '/api/v1/people', { id, displayName: 'Erika Erased' })).statusCode,
    ).toBe(201);
    await admin.confirm();
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM people WHERE id = $1 FOR UPDATE', [id]);
    // The erasure waits for the row first; the change has found the person and waits behind it.
    const erase = admin.request('POST', `/api/v1/people/${id}/erase`, { keepEvents: false });
    await blocked('%FROM people WHERE id = $1 FOR UPDATE%', 1);
    const change = admin.request('PATCH', `/api/v1/people/${id}`, { trainingOn: '2026-01-02' });
    await blocked('%UPDATE people SET display_name%', 1);
    await locker.query('ROLLBACK');
    const [erased, changed] = await Promise.all([erase, change]);
    expect(erased.statusCode).toBe(200);
    expect({
      change: changed.statusCode,
      person: await rows('SELECT display_name FROM people WHERE id = $1', [id]),
      entriesNamingThem: await rows(`SELECT action FROM audit_log WHERE target = $1`, [`person:${id}`]),
    }).toEqual({ change: 404, person: [], entriesNamingThem: [] });
  });
  it('moves no badge from its holder when two administrators hand it out at once', async () => {
    for (const id of ['rv-holder-a', 'rv-holder-b'])
      expect((await admin.request('POST', '/api/v1/people', { id, displayName: id })).statusCode).toBe(201);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE badges IN SHARE MODE');
    const answers = Promise.all(
      ['rv-holder-a', 'rv-holder-b'].map((id) =>
        admin.request('POST', `/api/v1/people/${id}/badges`, { badge: 'RV-CONTESTED' }),
      ),
    );
    await blocked('%INSERT INTO badges%', 2);
    await locker.query('COMMIT');
    const statuses = (await answers).map((a) => a.statusCode).sort();
    const holders = await rows('SELECT person_id FROM badges WHERE badge = $1', ['RV-CONTESTED']);
    const added = await rows(
      `SELECT target FROM audit_log WHERE action = 'person.badge-added' AND details->>'badge' = $1`,
      ['RV-CONTESTED'],
    );
    expect({ statuses, holders: holders.length, entries: added.map((r) => r.target) }).toEqual({
      statuses: [200, 409],
      holders: 1,
      entries: [`person:${holders[0]?.person_id}`],
    });
  });
});
