import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workstationSettings } from '../../src/config/workstation-config.js';
import { LiveHub } from '../../src/dashboard/live-hub.js';
import { type PresenceEventInput, PresenceService } from '../../src/dashboard/presence/presence-service.js';
import { WorkstationAuditExpiry } from '../../src/dashboard/presence/workstation-audit-expiry.js';
import { PersonErasure } from '../../src/dashboard/retention/person-erasure.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { PgOwedLockStore } from '../../src/dashboard/storage/owed-lock-store.js';
import { PgWorkstationSessionStore } from '../../src/dashboard/storage/workstation-session-store.js';
import { WorkstationStore } from '../../src/dashboard/storage/workstation-store.js';
import { FakeClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';
import { workstationSessionContract } from '../helpers/workstation-session-contract.js';

/** Lock on leave kept in `workstation_sessions`: the store, shared by instances, under retention and erasure. */
const NOW = Date.UTC(2026, 5, 1, 8);
const DAY = 86_400_000;

let pool: pg.Pool;
let drop: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  pool = new pg.Pool({ connectionString: database.url, max: 4 });
  await migrate(pool, silentLogger);
  await pool.query(`INSERT INTO sites (id, name) VALUES ('hq', 'HQ')`);
  await pool.query(`INSERT INTO rooms (site, id, name) VALUES ('hq', 'ident-1', 'Ident 1')`);
  await pool.query(`INSERT INTO doors (site, id, room, name) VALUES ('hq', 'main', 'ident-1', 'Main')`);
  const workstations = new WorkstationStore(pool);
  for (const id of ['ws-1', 'ws-2']) await workstations.register({ id, site: 'hq', room: 'ident-1' });
});

afterAll(async () => {
  await pool?.end();
  await drop?.();
});

/** Every test starts with people ada and bob and no sessions. */
async function reset(): Promise<void> {
  await pool.query('TRUNCATE workstation_sessions');
  await pool.query(
    `INSERT INTO people (id, display_name) VALUES ('ada', 'Ada'), ('bob', 'Bob') ON CONFLICT (id) DO NOTHING`,
  );
}

workstationSessionContract('the workstation_sessions table', async () => {
  await reset();
  return {
    store: new PgWorkstationSessionStore(pool),
    // The real erasure, with the events kept (there are none here).
    erase: async (person) => {
      await new PersonErasure(pool, new FakeClock(NOW)).erase(person, { keepEvents: true }, 'cli:test');
    },
  };
});

describe('workstation sessions in PostgreSQL', () => {
  it('are locked once when two instances see the same exit at the same time', async () => {
    await reset();
    const clock = new FakeClock(NOW);
    const store = new WorkstationStore(pool);
    const locks: string[] = [];
    const instance = () =>
      new PresenceService({
        store: {
          directory: () => store.directory(),
          presenceEventsSince: async () => [],
        } as unknown as WorkstationStore,
        sessions: new PgWorkstationSessionStore(pool),
        hub: new LiveHub(),
        clock,
        log: silentLogger,
        settings: workstationSettings({ workstations: {} }),
        onLeave: (workstation, person, reason) => locks.push(`${workstation.id}:${person}:${reason}`),
      });
    const [one, two] = [instance(), instance()];
    await Promise.all([one.start(), two.start()]);
    const event = (direction: 'in' | 'out', seq: number): PresenceEventInput => ({
      kind: 'access.granted',
      site: 'hq',
      gateway: 'gw-1',
      seq,
      occurredAt: new Date(clock.now()).toISOString(),
      data: { door: 'main', direction, person: 'ada', badge: 'b-ada' },
    });
    for (const presence of [one, two]) presence.apply([event('in', 1)]);
    expect(await one.answer('ws-1', 'ada')).toEqual({ allow: true });
    expect(await two.answer('ws-2', 'ada')).toEqual({ allow: true });
    for (const presence of [one, two]) presence.apply([event('out', 2)]);
    await Promise.all([one.idle(), two.idle()]);
    expect(locks.sort()).toEqual(['ws-1:ada:exit', 'ws-2:ada:exit']);
    expect((await pool.query('SELECT 1 FROM workstation_sessions')).rowCount).toBe(0);
    one.stop();
    two.stop();
  });

  it('go with the person when a person row is deleted some other way', async () => {
    await reset();
    const sessions = new PgWorkstationSessionStore(pool);
    await sessions.allowed({ workstation: 'ws-1', site: 'hq', person: 'bob', allowedAt: NOW });
    await pool.query(`DELETE FROM people WHERE id = 'bob'`);
    expect(await sessions.list()).toEqual([
      { workstation: 'ws-1', site: 'hq', person: null, allowedAt: NOW },
    ]);
  });

  it('keep owed locks through an erasure, naming nobody, and give them up when too old', async () => {
    await reset();
    await pool.query('TRUNCATE workstation_locks');
    const owed = new PgOwedLockStore(pool);
    const lock = (id: string, person: string, at: number) =>
      owed.owe({ id, workstation: 'ws-1', person, reason: 'exit', at });
    await lock('01900000-0000-7000-8000-000000000001', 'bob', NOW - 9 * 3_600_000);
    await lock('01900000-0000-7000-8000-000000000002', 'bob', NOW);
    await lock('01900000-0000-7000-8000-000000000003', 'ada', NOW);
    await new PersonErasure(pool, new FakeClock(NOW)).erase('bob', { keepEvents: true }, 'cli:test');
    expect((await owed.list()).map((l) => `${l.command.slice(-1)}:${l.person}`)).toEqual([
      '1:null',
      '2:null',
      '3:ada',
    ]);
    const policy = { firstWaitMs: 20_000, maxWaitMs: 900_000, giveUpMs: 8 * 3_600_000 };
    const overdue = await owed.overdue(NOW, policy);
    expect(overdue.map((l) => l.id)).toEqual(['01900000-0000-7000-8000-000000000001']);
    expect(await owed.giveUp('01900000-0000-7000-8000-000000000001', pool)).toBe(true);
    expect(await owed.giveUp('01900000-0000-7000-8000-000000000001', pool)).toBe(false);
    // Not due before the first wait; then each claimed once, with the next command id.
    expect(await owed.claimDue(NOW + 19_000, policy, () => 'unused')).toEqual([]);
    let n = 10;
    const next = () => `01900000-0000-7000-8000-0000000000${n++}`;
    const due = await owed.claimDue(NOW + 20_000, policy, next);
    expect(due.map((l) => [l.person, l.attempts, l.command])).toEqual([
      [null, 2, '01900000-0000-7000-8000-000000000010'],
      ['ada', 2, '01900000-0000-7000-8000-000000000011'],
    ]);
    // The second wait is twice the first.
    expect(await owed.claimDue(NOW + 20_000 + 39_000, policy, next)).toEqual([]);
    expect(await owed.claimDue(NOW + 20_000 + 40_000, policy, next)).toHaveLength(2);
    // An ok for an earlier command of a lock settles it, and every lock of the workstation owed before it.
    expect(await owed.settle('ws-1', '01900000-0000-7000-8000-000000000011', pool)).toBe(2);
    expect(await owed.list()).toEqual([]);
  });

  it('expire under the presence class of their site, held spans left alone', async () => {
    await reset();
    const sessions = new PgWorkstationSessionStore(pool);
    await sessions.allowed({ workstation: 'ws-1', site: 'hq', person: 'ada', allowedAt: NOW - 70 * DAY });
    await sessions.allowed({ workstation: 'ws-2', site: 'hq', person: 'ada', allowedAt: NOW - 65 * DAY });
    await sessions.allowed({ workstation: 'ws-1', site: 'hq', person: 'bob', allowedAt: NOW - DAY });
    const request = (dryRun: boolean) => ({
      dryRun,
      batchSize: 100,
      cutoffFor: () => ({ cutoff: new Date(NOW - 60 * DAY), source: 'global' }),
      heldFor: () => [{ from: NOW - 66 * DAY, to: NOW - 64 * DAY }],
    });
    const expiry = new WorkstationAuditExpiry(pool);
    expect(await expiry.deleteOlderThan(request(true))).toMatchObject([
      { dataClass: 'presence', site: 'hq', count: 1 },
    ]);
    expect(await expiry.deleteOlderThan(request(false))).toMatchObject([{ count: 1 }]);
    expect((await sessions.list()).map((s) => `${s.workstation}:${s.person}`)).toEqual([
      'ws-1:bob',
      'ws-2:ada',
    ]);
  });
});
