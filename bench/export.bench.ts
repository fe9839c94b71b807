// Auditor export throughput and memory: BENCH_ROWS (default 1,000,000) access events exported
// by `identgate export` as CSV (COPY … TO STDOUT) and as JSONL (that CSV converted), each in a child process
// under /usr/bin/time, beside psql's `\copy (the same query) to … csv` in the same run. Goal:
// at least half psql's rate, max RSS under 200 MB. It also prices the hash chain on the write
// path: the same rows inserted with the chain trigger on and off, and the export's own statement
// (the rows with each one's chained content, which it splits into the data file and chain-content.csv).
// BENCH_DATABASE_URL (admin URL, default the local server's postgres database) changes the server.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { exportWithContentSql } from '../src/dashboard/audit/bundle-content.js';
import { checkExportQuery, exportSql } from '../src/dashboard/audit/export-query.js';
import { migrate } from '../src/dashboard/storage/migrator.js';
import { silentLogger } from '../src/lib/logger.js';
import { fmt, row, scratchDatabase } from './bench-kit.js';

const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const run = promisify(execFile);
// The compiled command, as operators run it (built first, below).
const bin = fileURLToPath(new URL('../bin/identgate.js', import.meta.url));
const DAY = '2026-01-10';

const database = await scratchDatabase(adminUrl);
const url = new URL(database.url);
const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
const work = mkdtempSync(join(tmpdir(), 'idg-bench-export-'));

const insert = (count: number, firstSeq: number, site: string) =>
  pool.query(
    `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
     SELECT gen_random_uuid(), $1::date + ((i - 1)::float8 / $2) * interval '1 day', 1, $3, 'gw-1', $4 + i,
            CASE WHEN i % 10 = 0 THEN 'access.denied' ELSE 'access.granted' END, 'main', 'p-' || (i % 5000),
            jsonb_build_object('door', 'main', 'direction', CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END,
                               'person', 'p-' || (i % 5000), 'badge', 'b-' || (i % 5000),
                               'factors', jsonb_build_array('badge', 'totp'), 'unlockMs', 5000),
            'bench-signature-' || i
       FROM generate_series(1, $2) AS i`,
    [DAY, count, site, firstSeq],
  );

/** Wall seconds and max RSS (MB) of a command under /usr/bin/time. */
async function timed(file: string, args: string[], env: Record<string, string> = {}) {
  const { stderr } = await run('/usr/bin/time', ['-f', 'bench-time %e %M', file, ...args], {
    env: { ...process.env, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const match = /bench-time ([\d.]+) (\d+)/.exec(stderr);
  if (!match) throw new Error(`no timing in: ${stderr.slice(-500)}`);
  return { seconds: Number(match[1]), rssMb: Number(match[2]) / 1024 };
}

try {
  await run('npm', ['run', '--silent', 'build'], { cwd: fileURLToPath(new URL('..', import.meta.url)) });
  await migrate(pool, silentLogger);
  await pool.query(`SELECT identgate_ensure_event_partitions($1::date, $1::date)`, [DAY]);
  const probe = Math.min(100_000, rows);
  await pool.query('ALTER TABLE events DISABLE TRIGGER events_chain');
  let started = performance.now();
  await insert(probe, 0, 'probe-off');
  const off = probe / ((performance.now() - started) / 1000);
  await pool.query('ALTER TABLE events ENABLE TRIGGER events_chain');
  started = performance.now();
  await insert(probe, 0, 'probe-on');
  const on = probe / ((performance.now() - started) / 1000);
  await pool.query(`DELETE FROM events WHERE site LIKE 'probe-%'`);
  process.stdout.write(`insert ${fmt(probe)} events in one statement\n`);
  row('without the chain trigger', `${fmt(off)} rows/s`);
  row('with the chain trigger', `${fmt(on)} rows/s`, `${(on / off).toFixed(2)}× of without`);

  process.stdout.write(`loading ${fmt(rows)} events …\n`);
  await insert(rows, 1_000_000, 'berlin');
  await pool.query('VACUUM ANALYZE');

  const query = checkExportQuery({ from: DAY, to: '2026-01-11', site: 'berlin' });
  const quote = (v: string) => `'${v.replaceAll("'", "''")}'`;
  const oneLine = (sql: string) => sql.replace(/--[^\n]*/g, '').replaceAll('\n', ' ');
  const psql = await timed('psql', [
    url.toString(),
    '-q',
    '-c',
    `\\copy (${oneLine(exportSql(query, quote))}) to '${join(work, 'psql.csv')}' csv header`,
  ]);
  process.stdout.write(`export ${fmt(rows)} rows of one site and day\n`);
  row(
    'psql \\copy … csv (baseline)',
    `${fmt(rows / psql.seconds)} rows/s`,
    `max RSS ${psql.rssMb.toFixed(0)} MB`,
  );

  // The export's own statement: the same rows with each one's chained text, rendered, hashed and
  // compared with its link (the export splits it into the data file and chain-content.csv).
  const content = await timed('psql', [
    url.toString(),
    '-q',
    '-c',
    `\\copy (${oneLine(exportWithContentSql(query, quote, 'csv'))}) to '/dev/null' csv`,
  ]);
  row(
    'psql \\copy rows with content … csv',
    `${fmt(rows / content.seconds)} rows/s`,
    `${content.seconds.toFixed(2)} s, ${(content.seconds / psql.seconds).toFixed(2)}× the rows' query`,
  );

  const keyFile = join(work, 'signing.pem');
  writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
  });
  const password = decodeURIComponent(url.password);
  const plain = new URL(url);
  plain.password = '';
  const config = join(work, 'dashboard.yaml');
  writeFileSync(
    config,
    `kind: dashboard\ndatabase:\n  url: ${plain.toString()}\n${password ? '  password: { env: BENCH_DB_PASSWORD }\n' : ''}mqtt:\n  url: mqtt://127.0.0.1:1883\nkeys:\n  signing: { file: ${keyFile} }\n`,
  );
  for (const format of ['csv', 'jsonl']) {
    const result = await timed(
      process.execPath,
      [
        bin,
        'export',
        '--from',
        query.from,
        '--to',
        query.to,
        '--site',
        'berlin',
        '--format',
        format,
        '--out',
        join(work, `bundle-${format}`),
        '--config',
        config,
      ],
      password ? { BENCH_DB_PASSWORD: password } : {},
    );
    const rate = rows / result.seconds;
    row(
      `identgate export --format ${format}`,
      `${fmt(rate)} rows/s`,
      `${((100 * rate) / (rows / psql.seconds)).toFixed(0)} % of psql, max RSS ${result.rssMb.toFixed(0)} MB`,
    );
  }
  process.stdout.write(
    '(identgate also counts the rows, writes and hashes chain.csv and chain-content.csv beside them, and signs)\n',
  );
} finally {
  await pool.end();
  await database.drop();
  rmSync(work, { recursive: true, force: true });
}
