import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * A gateway's gaps, as migration 25 counts them for the gap scanner, `identgate gateways list` and
 * retiring a gateway: `identgate_first_gap` and `identgate_gaps`, from the numbers held in
 * event_sequences after a watermark and up to a highest number.
 */
type Gap = [number, number];

describe('sequence gaps', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let gateways = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool, silentLogger);
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  /** A gateway of its own that holds `numbers`. */
  async function holding(numbers: number[]): Promise<string> {
    const gateway = `gw-${++gateways}`;
    await pool.query(
      `INSERT INTO event_sequences (site, gateway, seq, event_id)
       SELECT 'site', $1, seq, gen_random_uuid() FROM unnest($2::bigint[]) seq`,
      [gateway, numbers],
    );
    return gateway;
  }

  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  async function gaps(gateway: string, after: number | null, through: number | null): Promise<Gap[]> {
    const result = await pool.query<{ from_seq: string; to_seq: string }>(
      `SELECT from_seq, to_seq FROM identgate_gaps('site', $1, $2, $3)`,
      [gateway, after, through],
    );
    return result.rows.map((r) => [Number(r.from_seq), Number(r.to_seq)]);
  }

  async function firstGap(gateway: string, after: number | null, through: number | null): Promise<Gap[]> {
    const result = await pool.query<{ from_seq: string; to_seq: string }>(
      `SELECT from_seq, to_seq FROM identgate_first_gap('site', $1, $2, $3)`,
      [gateway, after, through],
    );
    return result.rows.map((r) => [Number(r.from_seq), Number(r.to_seq)]);
  }

  it('finds none when every number after the watermark up to the highest is held', async () => {
    const gateway = await holding(range(1, 10));
    expect(await gaps(gateway, 0, 10)).toEqual([]);
    expect(await firstGap(gateway, 0, 10)).toEqual([]);
    expect(await gaps(gateway, 4, 10)).toEqual([]);
  });

  it('finds a hole just past the watermark', async () => {
    const gateway = await holding(range(4, 10));
    expect(await gaps(gateway, 0, 10)).toEqual([[1, 3]]);
    expect(await firstGap(gateway, 0, 10)).toEqual([[1, 3]]);
  });

  it('finds a hole in the middle', async () => {
    const gateway = await holding([...range(1, 4), ...range(8, 10)]);
    expect(await gaps(gateway, 0, 10)).toEqual([[5, 7]]);
    expect(await firstGap(gateway, 0, 10)).toEqual([[5, 7]]);
  });

  it('finds the numbers past the last one held, up to the highest', async () => {
    const gateway = await holding(range(1, 6));
    expect(await gaps(gateway, 0, 10)).toEqual([[7, 10]]);
    expect(await firstGap(gateway, 0, 10)).toEqual([[7, 10]]);
  });

  it('finds the whole range missing when no number in it is held', async () => {
    const gateway = await holding([1, 2, 20]);
    expect(await gaps(gateway, 2, 10)).toEqual([[3, 10]]);
    expect(await firstGap(gateway, 2, 10)).toEqual([[3, 10]]);
  });

  it('finds a single number missing, and a single number held between two holes', async () => {
    const gateway = await holding([1, 2, 4, 6, 7]);
    expect(await gaps(gateway, 0, 7)).toEqual([
      [3, 3],
      [5, 5],
    ]);
    expect(await gaps(gateway, 3, 5)).toEqual([[5, 5]]);
  });

  it('lists many gaps in order, the first of them first', async () => {
    const held = range(1, 1000).filter((n) => n % 10 !== 0);
    const gateway = await holding(held);
    const expected = range(1, 100).map((n): Gap => [n * 10, n * 10]);
    expect(await gaps(gateway, 0, 1000)).toEqual(expected);
    expect(await firstGap(gateway, 0, 1000)).toEqual([[10, 10]]);
    expect(await firstGap(gateway, 10, 1000)).toEqual([[20, 20]]);
  });

  it('counts only after the watermark: numbers missing at or below it are not gaps', async () => {
    const gateway = await holding([5, 6, 7]);
    expect(await gaps(gateway, 4, 7)).toEqual([]);
    expect(await gaps(gateway, 5, 9)).toEqual([[8, 9]]);
  });

  it('finds none in an empty range, or without a watermark (a gateway that never numbered an event)', async () => {
    const gateway = await holding([1, 2]);
    expect(await gaps(gateway, 5, 5)).toEqual([]);
    expect(await gaps(gateway, 5, 3)).toEqual([]);
    expect(await gaps(gateway, null, null)).toEqual([]);
    expect(await firstGap(gateway, null, null)).toEqual([]);
    expect(await gaps('never-seen', 0, 3)).toEqual([[1, 3]]);
  });

  it('agrees with counting the numbers one by one (fuzzed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 42 }),
        fc.integer({ min: 0, max: 42 }),
        async (held, after, through) => {
          const gateway = await holding(held);
          const expected: Gap[] = [];
          for (let n = after + 1; n <= through; n++) {
            if (held.includes(n)) continue;
            const last = expected[expected.length - 1];
            if (last && last[1] === n - 1) last[1] = n;
            else expected.push([n, n]);
          }
          expect(await gaps(gateway, after, through)).toEqual(expected);
          expect(await firstGap(gateway, after, through)).toEqual(expected.slice(0, 1));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads the numbers held only as far as the first gap, through the (site, gateway, seq) key', async () => {
    // The gap scanner's case: a hole at the watermark and 100,000 numbers held past it.
    const gateway = await holding(range(2, 100_001));
    await pool.query('ANALYZE event_sequences');
    const plan = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM identgate_first_gap('site', $1, 0, 100001)`,
      [gateway],
    );
    const scans = nodes(plan.rows[0]?.['QUERY PLAN'][0]?.Plan).filter(
      (node) => node['Relation Name'] === 'event_sequences',
    );
    expect(scans.map((s) => s['Index Name'])).toEqual(expect.arrayContaining(['event_sequences_pkey']));
    expect(scans.filter((s) => s['Node Type'] === 'Seq Scan')).toEqual([]);
    const read = scans.reduce((n, s) => n + (s['Actual Rows'] ?? 0) * (s['Actual Loops'] ?? 1), 0);
    expect(read).toBeLessThanOrEqual(2);
  });
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode | undefined): PlanNode[] {
  return plan ? [plan, ...(plan.Plans ?? []).flatMap(nodes)] : [];
}
