// Retention sweep cost: one expired day of events removed by dropping its partition, against the
// baseline of deleting the same rows with the batched DELETEs the job uses inside a partition
// that stays (plus the VACUUM that deleted rows cost later). Two scratch databases, one with 30
// and one with 60 days loaded, are swept alternately so that both see the same machine load:
// the cost should follow the expired day's rows (the drop also forgets their sequence numbers),
// not the size of the table.
// BENCH_EVENTS_PER_DAY (default 20000), BENCH_REPEATS (default 5) and BENCH_DATABASE_URL (admin
// URL, default the local server's postgres database) change the run.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { retentionSettings } from '../src/config/dashboard-config.js';
import type { EventDeleteStep, PartitionPlan } from '../src/controllers/retention/event-partition-planner.js';
import { DAY_MS } from '../src/controllers/retention/policy-book.js';
import { EventSweeper } from '../src/dashboard/retention/event-sweeper.js';
import { nativePartitions } from '../src/dashboard/retention/partition-sql.js';
import { RetentionService } from '../src/dashboard/retention/retention-service.js';
import { migrate } from '../src/dashboard/storage/migrator.js';
import { systemClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { fmt, percentile, row } from './bench-kit.js';

const perDay = Number(process.env.BENCH_EVENTS_PER_DAY ?? 20_000);
const repeats = Number(process.env.BENCH_REPEATS ?? 5);
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SITES = 10;
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const dayStart = (daysAgo: number) => today - daysAgo * DAY_MS;
const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

interface Scratch {
  days: number;
  name: string;
  pool: pg.Pool;
  sweeper: EventSweeper;
  closing: boolean;
}

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();

async function scratch(days: number): Promise<Scratch> {
  const name = `idg_bench_retention_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  const db: Scratch = {
    days,
    name,
    pool,
    sweeper: new EventSweeper({
      pool,
      partitions: nativePartitions,
      batchSize: 5000,
      shouldStop: () => false,
      lockTimeoutMs: 5000,
    }),
    closing: false,
  };
  // Dropping the scratch database can reach a connection the pool is still closing.
  pool.on('error', (error) => {
    if (!db.closing) throw error;
  });
  await migrate(pool, silentLogger);
  await pool.query(
    `INSERT INTO gateway_sequences (site, gateway, highest)
     SELECT 'site-' || n, 'gw-' || n, 0 FROM generate_series(0, ${SITES - 1}) AS n`,
  );
  for (let d = days; d >= 1; d--) await loadDay(pool, d);
  await pool.query('VACUUM ANALYZE');
  return db;
}

/** One day of events over SITES sites and their gateways, numbered on from the day before. */
async function loadDay(pool: pg.Pool, daysAgo: number): Promise<void> {
  const from = new Date(dayStart(daysAgo));
  await pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [
    from.toISOString().slice(0, 10),
  ]);
  await pool.query(
    `WITH rows AS (
       SELECT gen_random_uuid() AS id, $1::timestamptz + n * ($2::float8 / $3) * interval '1 millisecond' AS at,
              'site-' || (n % ${SITES}) AS site, 'gw-' || (n % ${SITES}) AS gateway, $4::bigint + n AS seq, n
         FROM generate_series(0, $3 - 1) AS n
     ), events AS (
       INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       SELECT id, at, 1, site, gateway, seq, CASE WHEN n % 3 = 0 THEN 'access.granted' ELSE 'door.locked' END, 'main',
              CASE WHEN n % 3 = 0 THEN 'agent-' || (n % 200) END,
              jsonb_build_object('door', 'main', 'person', 'agent-' || (n % 200), 'badge', 'badge-' || (n % 200)),
              repeat('s', 88)
         FROM rows
     )
     INSERT INTO event_sequences (site, gateway, seq, event_id) SELECT site, gateway, seq, id FROM rows`,
    [from, DAY_MS, perDay, (1000 - daysAgo) * perDay + 1],
  );
}

/** Sweeps one whole day by dropping its partition or by batched DELETEs (then VACUUMs what they left). */
async function sweepDay(
  db: Scratch,
  daysAgo: number,
  method: PartitionPlan['method'],
): Promise<{ ms: number; vacuumMs: number }> {
  const wanted = `events_p${new Date(dayStart(daysAgo)).toISOString().slice(0, 10).replaceAll('-', '')}`;
  const partition = (await nativePartitions.list(db.pool)).find((p) => p.name === wanted);
  if (!partition) throw new Error(`no partition ${wanted}`);
  const steps: EventDeleteStep[] = Array.from({ length: SITES }, (_, i) => ({
    dataClass: 'access-events',
    group: 'access',
    site: `site-${i}`,
    source: 'global',
    days: 1,
    ranges: [{ from: partition.from, to: partition.to }],
    held: [],
    heldBy: [],
  }));
  const started = performance.now();
  await db.sweeper.execute({ partition, method, steps }, false, { log: async () => {}, done: () => {} });
  const ms = performance.now() - started;
  if (method === 'partition-drop') return { ms, vacuumMs: 0 };
  const vacuumStarted = performance.now();
  await db.pool.query(`VACUUM ${partition.table}`);
  return { ms, vacuumMs: performance.now() - vacuumStarted };
}

const dbs: Scratch[] = [];
try {
  const loadStarted = performance.now();
  dbs.push(await scratch(30), await scratch(60));
  process.stdout.write(
    `${fmt(perDay)} events per day over ${SITES} sites; ${((performance.now() - loadStarted) / 1000).toFixed(0)} s to load 30 + 60 days; median of ${repeats} days each\n`,
  );
  const results = new Map(
    dbs.map((db) => [db, { drop: [] as number[], del: [] as number[], vac: [] as number[] }]),
  );
  for (let i = 0; i < repeats; i++) {
    for (const db of dbs) {
      const r = results.get(db);
      r?.drop.push((await sweepDay(db, db.days - 2 * i, 'partition-drop')).ms);
      const swept = await sweepDay(db, db.days - 2 * i - 1, 'delete');
      r?.del.push(swept.ms);
      r?.vac.push(swept.ms + swept.vacuumMs);
    }
  }
  const summary = new Map<number, { drop: number; del: number }>();
  for (const db of dbs) {
    const r = results.get(db);
    if (!r) continue;
    const drop = median(r.drop);
    const del = median(r.del);
    const vac = median(r.vac);
    summary.set(db.days, { drop, del });
    process.stdout.write(`-- ${db.days} days loaded (${fmt(db.days * perDay)} events)\n`);
    row('baseline: batched DELETE of one day', `${del.toFixed(1)} ms`);
    row(
      'batched DELETE + VACUUM of its partition',
      `${vac.toFixed(1)} ms`,
      `${(vac / del).toFixed(2)} x baseline`,
    );
    row('partition drop of one day', `${drop.toFixed(1)} ms`, `${(drop / del).toFixed(2)} x baseline`);
  }
  const small = summary.get(30);
  const large = summary.get(60);
  if (small && large) {
    process.stdout.write('-- the same one-day sweep, 60 days loaded against 30\n');
    row('partition drop', `${(large.drop / small.drop).toFixed(2)} x`);
    row('batched DELETE', `${(large.del / small.del).toFixed(2)} x`);
  }

  // The job when nothing has expired: listing partitions and planning, no data touched.
  const large60 = dbs[1] as Scratch;
  const service = new RetentionService({
    pool: large60.pool,
    clock: systemClock,
    log: silentLogger,
    settings: retentionSettings({}),
  });
  for (const dataClass of ['access-events', 'video'] as const)
    await service.setPolicy({ dataClass, scope: 'global', days: 365 }, 'bench');
  await service.runNow({ dryRun: false });
  const idle: number[] = [];
  for (let i = 0; i < 5; i++) {
    const started = performance.now();
    await service.runNow({ dryRun: false });
    idle.push(performance.now() - started);
  }
  row('whole run, nothing expired, 60 days loaded', `${median(idle).toFixed(1)} ms`);
} finally {
  for (const db of dbs) {
    db.closing = true;
    await db.pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
  }
  await admin.end();
}
