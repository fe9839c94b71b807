import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeExportBundle } from '../../src/dashboard/audit/export-bundle.js';
import { checkExportQuery } from '../../src/dashboard/audit/export-query.js';
import { withSharedSnapshot } from '../../src/dashboard/audit/shared-snapshot.js';
import { DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** An export reads its rows on one connection and counts them on a second, in one snapshot. */
describe('an export read on two connections in one snapshot', () => {
  let rig: RetentionRig;
  let work: string;
  const day = new Date(NOW - 2 * DAY).toISOString().slice(0, 10);
  const countEvents = `SELECT count(*)::int AS n FROM events`;

  beforeAll(async () => {
    rig = await startRetentionRig();
    await rig.reset();
    await rig.pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [day]);
    await rig.pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       SELECT gen_random_uuid(), $1::date + i * interval '1 second', 1, 'berlin', 'gw-bulk', i,
              'access.granted', 'main', 'p-' || (i % 50),
              jsonb_build_object('door', 'main', 'direction', 'in', 'badge', 'b-' || (i % 50)), 'bulk-signature'
         FROM generate_series(1, 20000) AS i`,
      [day],
    );
    work = mkdtempSync(join(tmpdir(), 'idg-export-snapshot-'));
  });
  afterAll(async () => {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** Backends of the test database other than the one asking, once none is left busy. */
  const otherBackends = async () => {
    const result = await rig.pool.query<{ pid: number; state: string; query: string }>(
      `SELECT pid, state, query FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`,
    );
    return result.rows;
  };
  const settledBackends = async () => {
    const deadline = Date.now() + 10_000;
    let rows = await otherBackends();
    while (rows.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rows = await otherBackends();
    }
    return rows;
  };

  it('lets the second connection see the first one’s snapshot, not rows committed since', async () => {
    const before = (await rig.pool.query<{ n: number }>(countEvents)).rows[0]?.n;
    let inserted!: () => void;
    const committed = new Promise<void>((resolve) => {
      inserted = resolve;
    });
    const [first, second] = await withSharedSnapshot(
      rig.pool,
      undefined,
      async (client) => {
        await rig.event('berlin', DAY, { person: 'p-late' });
        inserted();
        return (await client.query<{ n: number }>(countEvents)).rows[0]?.n;
      },
      async (client) => {
        await committed;
        return (await client.query<{ n: number }>(countEvents)).rows[0]?.n;
      },
    );
    expect({ first, second }).toEqual({ first: before, second: before });
    expect((await rig.pool.query<{ n: number }>(countEvents)).rows[0]?.n).toBe((before ?? 0) + 1);
  });

  it('stops the other reader and closes both connections when one fails', async () => {
    // The second reader waits until it is stopped: if it never were, the test would time out.
    const untilStopped = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    const reading = withSharedSnapshot(
      rig.pool,
      undefined,
      async () => {
        throw new Error('the disk is full');
      },
      async (client, signal) => {
        await client.query('SELECT 1');
        await untilStopped(signal);
      },
    );
    await expect(reading).rejects.toThrow('the disk is full');
    expect(rig.pool.totalCount).toBe(rig.pool.idleCount);
    expect(await settledBackends()).toEqual([]);
  });

  it.each(['csv', 'jsonl'] as const)(
    'leaves no %s bundle and no open connection when cancelled while its rows stream',
    async (format) => {
      const out = join(work, `cancelled-${format}`);
      const controller = new AbortController();
      const exporting = writeExportBundle(rig.pool, {
        query: checkExportQuery({ from: day, to: new Date(NOW).toISOString() }),
        format,
        out,
        actor: 'cli:test',
        signingKey: generateKeyPairSync('ed25519').privateKey,
        onProgress: ({ rows }) => {
          if (rows > 0) controller.abort();
        },
        signal: controller.signal,
      });
      await expect(exporting).rejects.toThrow();
      expect(controller.signal.aborted).toBe(true);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(work).filter((name) => name.includes(`cancelled-${format}`))).toEqual([]);
      expect(rig.pool.totalCount).toBe(rig.pool.idleCount);
      expect(await settledBackends()).toEqual([]);
    },
  );
});
