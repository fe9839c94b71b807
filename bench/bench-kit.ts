import { type KeyObject, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Dashboard } from '../src/dashboard/dashboard.js';
import { silentLogger } from '../src/lib/logger.js';
import { type Envelope, SCHEMA_VERSION, signEnvelope } from '../src/protocol/envelope.js';
import { exportPublicKey, generateSigningKeyPair, type SigningKeyPair } from '../src/protocol/signing.js';
import { scratchDatabase as createScratchDatabase } from '../test/helpers/scratch-database.js';

/** Runs `fn` repeatedly for about `ms` milliseconds after a warm-up; returns operations per second. */
export function opsPerSecond(fn: () => void, ms = 1500): number {
  const warmUntil = performance.now() + ms / 5;
  while (performance.now() < warmUntil) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function row(label: string, value: string, ratio?: string): void {
  process.stdout.write(`${label.padEnd(44)} ${value.padStart(16)}${ratio ? `   ${ratio}` : ''}\n`);
}

export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * The limit the database itself sets for storing events: COPY of the same rows into a table of
 * the same shape as `events` (columns, day partition, indexes), and into one with the primary key
 * alone. Rows per second. The envelopes must all fall on one UTC day.
 *
 * `everyRow` is events per second when each event's three rows are copied, as the ingest must
 * write them: the event, its link in the hash chain (`audit_chain`) and its sequence claim
 * (`event_sequences`), each into a table of its table's shape. The chain's hashes are random
 * here: what is measured is storing the rows, not computing them.
 */
export async function copyEventsBaseline(
  pool: pg.Pool,
  envelopes: readonly Envelope[],
): Promise<{ sameShape: number; primaryKeyOnly: number; everyRow: number }> {
  const day = (envelopes[0] as Envelope).time.slice(0, 10);
  for (const [table, like] of [
    ['copy_events', 'INCLUDING ALL'],
    ['copy_events_pk', 'INCLUDING DEFAULTS'],
  ]) {
    await pool.query(`CREATE TABLE ${table} (LIKE events ${like}) PARTITION BY RANGE (occurred_at)`);
    await pool.query(
      `CREATE TABLE ${table}_day PARTITION OF ${table} FOR VALUES FROM ('${day}') TO ('${day}'::date + 1)`,
    );
  }
  await pool.query('ALTER TABLE copy_events_pk ADD PRIMARY KEY (id, occurred_at)');
  const quote = (v: unknown) => (v === null || v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);
  const rows = envelopes.map((e) => {
    const data = e.data as Record<string, unknown>;
    return `${[e.id, e.time, e.v, e.site, e.gateway, e.seq, e.kind, data.door, data.person, JSON.stringify(e.data), e.sig].map(quote).join(',')}\n`;
  });
  // Sent 500 rows a chunk: a stream write per row costs node more than a narrow row costs the
  // database, and the baseline is the database's limit.
  const copy = async (client: pg.PoolClient, statement: string, lines: readonly string[]) => {
    const chunks: string[] = [];
    for (let i = 0; i < lines.length; i += 500) chunks.push(lines.slice(i, i + 500).join(''));
    await pipeline(Readable.from(chunks), client.query(copyFrom(statement)));
  };
  const EVENT_COLUMNS =
    'id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature';
  const copyInto = async (table: string): Promise<number> => {
    const client = await pool.connect();
    try {
      const start = performance.now();
      await copy(client, `COPY ${table} (${EVENT_COLUMNS}) FROM STDIN (FORMAT csv)`, rows);
      return (rows.length * 1000) / (performance.now() - start);
    } finally {
      client.release();
    }
  };
  const sameShape = await copyInto('copy_events');
  const primaryKeyOnly = await copyInto('copy_events_pk');

  await pool.query('TRUNCATE copy_events');
  await pool.query('CREATE TABLE copy_chain (LIKE audit_chain INCLUDING ALL)');
  await pool.query('CREATE TABLE copy_sequences (LIKE event_sequences INCLUDING ALL)');
  const hex = () => `\\x${randomBytes(32).toString('hex')}`;
  const addedAt = new Date().toISOString();
  const chainRows = envelopes.map(
    (e, i) => `${[e.site, i + 1, 'event', e.id, e.time, addedAt, hex(), hex()].map(quote).join(',')}\n`,
  );
  const claimRows = envelopes.map((e) => `${[e.site, e.gateway, e.seq, e.id].map(quote).join(',')}\n`);
  const client = await pool.connect();
  try {
    const start = performance.now();
    await copy(client, `COPY copy_events (${EVENT_COLUMNS}) FROM STDIN (FORMAT csv)`, rows);
    await copy(
      client,
      'COPY copy_chain (site, no, source, ref, at, added_at, digest, hash) FROM STDIN (FORMAT csv)',
      chainRows,
    );
    await copy(
      client,
      'COPY copy_sequences (site, gateway, seq, event_id) FROM STDIN (FORMAT csv)',
      claimRows,
    );
    return { sameShape, primaryKeyOnly, everyRow: (rows.length * 1000) / (performance.now() - start) };
  } finally {
    client.release();
  }
}

/** The machine's PostgreSQL as the benches use it (`BENCH_DATABASE_URL`). */
export const BENCH_ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A database of its own for one bench run, dropped (with whatever still holds it) by `drop()`. */
export function scratchDatabase(
  adminUrl = BENCH_ADMIN_URL,
): Promise<{ url: string; drop: () => Promise<void> }> {
  return createScratchDatabase(adminUrl, 'idg_bench');
}

/** The `i`-th access of a gateway's simulated day, signed: 500 people with a badge each, one door. */
export function signedAccess(
  site: string,
  gateway: string,
  seq: number,
  i: number,
  fields: { id: string; time: string },
  key: KeyObject,
): Envelope {
  return signEnvelope(
    {
      v: SCHEMA_VERSION,
      id: fields.id,
      site,
      gateway,
      seq,
      time: fields.time,
      kind: 'access.granted',
      data: {
        door: 'main',
        direction: 'in',
        person: `p${i % 500}`,
        badge: `B${i % 500}`,
        factors: ['badge', 'totp'],
        unlockMs: 5000,
      },
    } as Envelope,
    key,
  );
}

/**
 * A dashboard that ingests one site from `count` simulated gateways (`gw-0` …), each with a key
 * pair of its own and trusted by the dashboard. Not started.
 */
export function ingestDashboard(options: {
  site: string;
  count: number;
  databaseUrl: string;
  brokerUrl: string;
  poolSize: number;
  verifyThreads?: number;
}): { dashboard: Dashboard; gateways: Array<{ id: string; keys: SigningKeyPair }> } {
  const { site, count, databaseUrl, brokerUrl, poolSize, verifyThreads } = options;
  const gateways = Array.from({ length: count }, (_, i) => ({
    id: `gw-${i}`,
    keys: generateSigningKeyPair(),
  }));
  const dashboard = new Dashboard({
    config: {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0 },
      database: { url: databaseUrl, poolSize },
      mqtt: { url: brokerUrl, clientId: `bench-dash-${site}` },
      ingest: { sites: [site], ...(verifyThreads === undefined ? {} : { verifyThreads }) },
      gateways: gateways.map((g) => ({ site, id: g.id, publicKey: exportPublicKey(g.keys.publicKey) })),
      keys: {},
    },
    log: silentLogger,
  });
  return { dashboard, gateways };
}
