// The event search on a history of the size a site keeps: BENCH_DAYS day partitions (default 3)
// of BENCH_PER_DAY events each (default 1,000,000), 2 sites, 20 gateways, 40 doors; 2 % of the
// events are denials (reason `wrong-code`), one in 33,333 a `door.forced`. Each search runs as
// the dashboard runs it (EventStore.search, 100 rows, newest first), BENCH_REPEATS times (default
// 5); the median is printed beside the baseline measured in the same run: the newest 100 events
// without a filter, which reads the ingest-number index and nothing else.
// The history is written with SQL, the tamper-evident chain's triggers switched off for the load
// (the search does not read the chain). Loading 3,000,000 events takes about 90 s here.
//   node bench/run.js search   (BENCH_DAYS, BENCH_PER_DAY, BENCH_REPEATS, BENCH_DATABASE_URL)
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { EventFilter } from '../src/dashboard/storage/event-search.js';
import { EventStore } from '../src/dashboard/storage/event-store.js';
import { migrate } from '../src/dashboard/storage/migrator.js';
import { silentLogger } from '../src/lib/logger.js';
import { fmt, percentile, row, scratchDatabase } from './bench-kit.js';

const DAYS = Number(process.env.BENCH_DAYS ?? 3);
const PER_DAY = Number(process.env.BENCH_PER_DAY ?? 1_000_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const DAY_MS = 86_400_000;
const CHUNK = 100_000;

const database = await scratchDatabase();
const pool = new pg.Pool({ connectionString: database.url, max: 2 });
try {
  await migrate(pool, silentLogger);
  await pool.query('ALTER TABLE events DISABLE TRIGGER USER');
  const firstDay = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAYS * DAY_MS;
  const day = (i: number) => new Date(firstDay + i * DAY_MS).toISOString().slice(0, 10);
  const loadStart = performance.now();
  for (let d = 0; d < DAYS; d++) {
    await pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [day(d)]);
    for (let from = 0; from < PER_DAY; from += CHUNK) {
      await pool.query(
        `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
         SELECT gen_random_uuid(), ($1::date::timestamp AT TIME ZONE 'UTC') + i * make_interval(secs => 86400.0 / $2), 1,
                'site-' || (i % 2), 'gw-' || (i % 20), $3 + i,
                CASE WHEN i % 50 = 7 THEN 'access.denied'
                     WHEN i % 33333 = 11 THEN 'door.forced'
                     ELSE (ARRAY['access.granted', 'door.unlocked', 'door.opened', 'door.closed', 'door.locked'])[1 + i % 5]
                END,
                'door-' || (i % 40),
                CASE WHEN i % 5 = 0 OR i % 50 = 7 THEN 'p-' || (i % 5000) END,
                jsonb_strip_nulls(jsonb_build_object('door', 'door-' || (i % 40),
                  'badge', lpad((i % 5000)::text, 7, '0'),
                  'reason', CASE WHEN i % 50 = 7 THEN 'wrong-code' END)),
                repeat('s', 86)
           FROM generate_series($4::int, least($4::int + ${CHUNK}, $2::int) - 1) i`,
        [day(d), PER_DAY, d * PER_DAY, from],
      );
    }
  }
  await pool.query('ALTER TABLE events ENABLE TRIGGER USER');
  await pool.query('ANALYZE events');
  const loadSeconds = (performance.now() - loadStart) / 1000;

  const events = new EventStore(pool);
  const middle = day(Math.floor(DAYS / 2));
  const searches: Array<[string, EventFilter]> = [
    ['newest 100, no filter (baseline)', {}],
    ['a frequent kind (door.opened)', { kind: 'door.opened' }],
    ['denials (2 %)', { kind: 'access.denied' }],
    ['a rare kind (door.forced)', { kind: 'door.forced' }],
    ['a rare kind at one door', { kind: 'door.forced', door: 'door-3' }],
    ['denials of one site for one reason', { kind: 'access.denied', site: 'site-1', reason: 'wrong-code' }],
    ['a reason no event has', { reason: 'no-such-reason' }],
    ['one person', { person: 'p-10' }],
    [
      'a rare kind on one day',
      { kind: 'door.forced', from: `${middle}T00:00:00Z`, to: `${middle}T23:59:59Z` },
    ],
    ['one site, one hour', { site: 'site-1', from: `${middle}T10:00:00Z`, to: `${middle}T11:00:00Z` }],
  ];
  // One round first, so that every search finds the same warm cache.
  for (const [, filter] of searches) await events.search(filter, 100);
  const timings: number[] = [];
  for (const [, filter] of searches) {
    const runs: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const start = performance.now();
      await events.search(filter, 100);
      runs.push(performance.now() - start);
    }
    timings.push(
      percentile(
        [...runs].sort((a, b) => a - b),
        50,
      ),
    );
  }
  const baseline = timings[0] as number;
  process.stdout.write(
    `${fmt(DAYS * PER_DAY)} events in ${DAYS} day partitions, loaded in ${loadSeconds.toFixed(0)} s\n`,
  );
  searches.forEach(([label], i) => {
    const ms = timings[i] as number;
    row(label, `${ms.toFixed(1)} ms`, i === 0 ? undefined : `${(ms / baseline).toFixed(1)} x baseline`);
  });
} finally {
  await pool.end();
  await database.drop();
}
