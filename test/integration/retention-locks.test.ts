import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import type { AlarmView } from '../../src/dashboard/storage/alarm-store.js';
import { EventStore } from '../../src/dashboard/storage/event-store.js';
import { FakeClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { DAY, HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * Partitions are created and dropped beside long readers of `events` (an auditor's export, a long
 * search, a session idle in a transaction) without leaving the ingest waiting behind them.
 */
describe('retention beside long readers of events', () => {
  let rig: RetentionRig;

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(() => rig.close());
  beforeEach(() => rig.reset());

  const service = (clock = rig.clock, alarmsChanged?: (alarms: AlarmView[]) => void) =>
    new RetentionService({
      pool: rig.pool,
      clock,
      log: silentLogger,
      settings: retentionSettings({ retention: { lockTimeoutSeconds: 1 } }),
      ...(alarmsChanged ? { alarmsChanged } : {}),
    });

  /** A session in a transaction that has run `sql` and stays open, as an export's does. */
  async function openTransaction(sql: string): Promise<{ end(): Promise<void> }> {
    const client = new pg.Client({ connectionString: rig.databaseUrl });
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await client.query(sql);
    return {
      async end() {
        await client.query('ROLLBACK');
        await client.end();
      },
    };
  }
  const longReader = () => openTransaction('SELECT count(*) FROM events');

  /** Resolves once a session waits for a lock on `events` itself. */
  async function lockRequestOnEvents(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const waiting = await rig.pool.query(
        `SELECT 1 FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted`,
      );
      if (waiting.rowCount) return;
      if (Date.now() > deadline) throw new Error('no session came to wait for a lock on events');
      await delay(20);
    }
  }

  it("creates the coming days' partitions while an export reads events, without waiting for it", async () => {
    const reader = await longReader();
    try {
      const report = await service(new FakeClock(NOW + 400 * DAY)).runNow({ dryRun: false });
      expect(report.failures).toEqual([]);
      expect(report.partitionsCreated).toBe(8);
    } finally {
      await reader.end();
    }
    const stored = await rig.pool.query(`SELECT count(*)::int AS n FROM events`);
    expect(stored.rows).toEqual([{ n: 0 }]);
  });

  it('gives a partition drop up after its lock timeout, so an insert waits at most that long, and tries no other drop in that run', async () => {
    await rig.event('berlin', 70 * DAY);
    await rig.event('berlin', 71 * DAY);
    await rig.event('berlin', 2 * HOUR);
    const expired = [rig.partitionOf(71 * DAY), rig.partitionOf(70 * DAY)];
    const retention = service();
    const reader = await longReader();
    let report: Awaited<ReturnType<RetentionService['runNow']>>;
    try {
      const run = retention.runNow({ dryRun: false });
      await lockRequestOnEvents();
      // An ingest insert into today's partition queues behind the drop's request, until it gives up.
      const started = Date.now();
      await rig.event('berlin', HOUR);
      const insertMs = Date.now() - started;
      report = await run;
      expect(insertMs).toBeLessThan(5000);
    } finally {
      await reader.end();
    }
    const failures = [...report.failures].sort((a, b) => a.code.localeCompare(b.code));
    expect(failures).toEqual([
      { step: expect.any(String), code: '55P03', message: expect.stringContaining('lock timeout') },
      { step: expect.any(String), code: 'IDG_RETENTION_DROP_DEFERRED', message: expect.any(String) },
    ]);
    expect(failures.map((f) => f.step).sort()).toEqual(expired.map((name) => `events: ${name}`));
    expect(await rig.partitionNames()).toEqual(expect.arrayContaining(expired));
    const again = await retention.runNow({ dryRun: false });
    expect(again.failures).toEqual([]);
    for (const name of expired) expect(await rig.partitionNames()).not.toContain(name);
  });

  it("lets the ingest create a day's partition while an export reads events", async () => {
    const reader = await longReader();
    try {
      await new EventStore(rig.pool, rig.clock).ensurePartitions(['2027-06-01']);
    } finally {
      await reader.end();
    }
    expect(await rig.partitionNames()).toContain('events_p20270601');
  });

  it('lets the ingest give up creating a partition after its lock timeout, behind a schema change of events', async () => {
    const change = await openTransaction('LOCK TABLE events IN SHARE UPDATE EXCLUSIVE MODE');
    try {
      await expect(
        new EventStore(rig.pool, rig.clock, 200).ensurePartitions(['2027-06-02']),
      ).rejects.toMatchObject({ code: '55P03' });
    } finally {
      await change.end();
    }
    expect(await rig.partitionNames()).not.toContain('events_p20270602');
  });
  describe('alarms', () => {
    const retentionAlarms = async () =>
      (
        await rig.pool.query<{ key: string; severity: string; detail: string; cleared: boolean }>(
          `SELECT key, severity, detail, cleared_at IS NOT NULL AS cleared FROM alarms
            WHERE source = 'central' AND alarm = 'retention-failed' ORDER BY id`,
        )
      ).rows;

    it('raises one naming the step that failed, shows it, and clears it when a later run succeeds', async () => {
      await rig.event('berlin', 70 * DAY);
      const shown: AlarmView[] = [];
      const retention = service(rig.clock, (alarms) => shown.push(...alarms));
      const reader = await longReader();
      try {
        await retention.runNow({ dryRun: false });
      } finally {
        await reader.end();
      }
      expect(await retentionAlarms()).toEqual([
        {
          key: 'retention-failed',
          severity: 'warning',
          detail: expect.stringContaining(
            `events: ${rig.partitionOf(70 * DAY)} (55P03: canceling statement due to lock timeout)`,
          ),
          cleared: false,
        },
      ]);
      expect(shown.map((a) => a.alarm)).toEqual(['retention-failed']);
      await retention.runNow({ dryRun: false });
      expect(await retentionAlarms()).toMatchObject([{ key: 'retention-failed', cleared: true }]);
    });

    it("raises a critical one while today's and tomorrow's partitions are missing and cannot be created", async () => {
      // Days ahead of the alarms' own time, so that no alarm is past retention.
      const clock = new FakeClock(Date.now() + 3 * DAY);
      const [today, tomorrow] = [0, DAY].map((ms) => new Date(clock.now() + ms).toISOString().slice(0, 10));
      const retention = service(clock);
      const change = await openTransaction('LOCK TABLE events IN SHARE UPDATE EXCLUSIVE MODE');
      try {
        const report = await retention.runNow({ dryRun: false });
        expect(report.failures).toContainEqual(
          expect.objectContaining({ step: 'events: create partitions ahead', code: '55P03' }),
        );
      } finally {
        await change.end();
      }
      expect(await retentionAlarms()).toEqual([
        { key: 'retention-failed', severity: 'warning', detail: expect.any(String), cleared: false },
        {
          key: 'retention-partitions-missing',
          severity: 'critical',
          detail: expect.stringContaining(
            `no event partition for ${today}, ${tomorrow}, and the retention run could not create it: canceling statement due to lock timeout`,
          ),
          cleared: false,
        },
      ]);
      await retention.runNow({ dryRun: false });
      expect((await retentionAlarms()).map((a) => a.cleared)).toEqual([true, true]);
    });

    it('raises one when the run fails as a whole, and none for a dry run', async () => {
      const retention = service();
      await rig.pool.query('ALTER TABLE legal_holds RENAME TO legal_holds_away');
      try {
        await expect(retention.runNow({ dryRun: true })).rejects.toThrow();
        expect(await retentionAlarms()).toEqual([]);
        await expect(retention.runNow({ dryRun: false })).rejects.toThrow();
      } finally {
        await rig.pool.query('ALTER TABLE legal_holds_away RENAME TO legal_holds');
      }
      expect(await retentionAlarms()).toEqual([
        {
          key: 'retention-failed',
          severity: 'warning',
          detail: expect.stringContaining('the retention run failed before deleting anything'),
          cleared: false,
        },
      ]);
    });
  });
});
