import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { FakeClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from './services.js';

/**
 * A migrated database with two customers — acme (site berlin) and beta (site hamburg) — a
 * retention service on a fake clock, and helpers that put events, alarms and quarantined
 * payloads at a given age. Each test starts from empty tables (`reset`); the clock stays at NOW.
 */
export const DAY = 86_400_000;
export const HOUR = 3_600_000;
export const NOW = Date.UTC(2026, 2, 15, 12);
export const ADMIN = 'staff:test-admin';

export interface RetentionRig {
  pool: pg.Pool;
  databaseUrl: string;
  clock: FakeClock;
  service: RetentionService;
  reset(): Promise<void>;
  /** Stores an event `age` ms before the clock's now; returns its id and sequence number. */
  event(
    site: string,
    age: number,
    fields?: EventFields,
  ): Promise<{ id: string; seq: number; gateway: string }>;
  alarm(
    site: string | null,
    raisedAge: number,
    fields?: { lastSeenAge?: number; state?: string; key?: string },
  ): Promise<number>;
  quarantined(age: number, payload?: string): Promise<void>;
  eventIds(): Promise<string[]>;
  partitionNames(): Promise<string[]>;
  /** Everything retention may change, for before/after comparisons. */
  snapshot(): Promise<Record<string, unknown>>;
  partitionOf(age: number): string;
  close(): Promise<void>;
}

export interface EventFields {
  /** The gateway's number for it; by default the gateway's next. */
  seq?: number;
  kind?: string;
  person?: string;
  badge?: string;
  data?: Record<string, unknown>;
  /** The gateway's signature; by default a fixed text (nothing here checks it). */
  signature?: string;
}

export async function startRetentionRig(): Promise<RetentionRig> {
  const database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  let closing = false;
  // Dropping the database can reach a connection the pool is still closing; only other errors count.
  pool.on('error', (error) => {
    if (!closing) throw error;
  });
  await migrate(pool, silentLogger);
  const clock = new FakeClock(NOW);
  const service = new RetentionService({ pool, clock, log: silentLogger, settings: retentionSettings({}) });
  /** Each gateway's highest number so far (numbers go per gateway, as gateways count). */
  const numbers = new Map<string, number>();
  const partitionNames = async () => {
    const result = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'events'::regclass ORDER BY 1`,
    );
    return result.rows.map((r) => r.name);
  };
  const partitionOf = (age: number) =>
    `events_p${new Date(clock.now() - age).toISOString().slice(0, 10).replaceAll('-', '')}`;
  return {
    pool,
    clock,
    service,
    partitionOf,
    async reset() {
      numbers.clear();
      await pool.query(
        `TRUNCATE events, event_sequences, gateway_sequences, alarms, quarantine, deletion_log, audit_log,
                  retention_policies, legal_holds, people, badges, access_grants, sites, customers,
                  erased_chain_rows, unlisted_erasures CASCADE`,
      );
      await pool.query(
        `INSERT INTO customers (id, name) VALUES ('acme', 'Acme Ident'), ('beta', 'Beta Bank')`,
      );
      await pool.query(
        `INSERT INTO sites (id, customer_id, name) VALUES ('berlin', 'acme', 'Berlin'), ('hamburg', 'beta', 'Hamburg')`,
      );
    },
    async event(site, age, fields = {}) {
      const at = new Date(clock.now() - age);
      const gateway = `gw-${site}`;
      const id = randomUUID();
      const seq = fields.seq ?? (numbers.get(gateway) ?? 0) + 1;
      numbers.set(gateway, Math.max(seq, numbers.get(gateway) ?? 0));
      const data = {
        door: 'main',
        ...(fields.person ? { person: fields.person } : {}),
        ...(fields.badge ? { badge: fields.badge } : {}),
        ...fields.data,
      };
      await pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [
        at.toISOString().slice(0, 10),
      ]);
      await pool.query(
        `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
         VALUES ($1, $2, 1, $3, $4, $5, $6, 'main', $7, $8, $9)`,
        [
          id,
          at,
          site,
          gateway,
          seq,
          fields.kind ?? 'access.granted',
          fields.person ?? null,
          JSON.stringify(data),
          fields.signature ?? 'test-signature',
        ],
      );
      await pool.query('INSERT INTO event_sequences (site, gateway, seq, event_id) VALUES ($1, $2, $3, $4)', [
        site,
        gateway,
        seq,
        id,
      ]);
      await pool.query(
        `INSERT INTO gateway_sequences (site, gateway, highest) VALUES ($1, $2, $3)
         ON CONFLICT (site, gateway) DO UPDATE SET highest = greatest(gateway_sequences.highest, EXCLUDED.highest)`,
        [site, gateway, seq],
      );
      return { id, seq, gateway };
    },
    async alarm(site, raisedAge, fields = {}) {
      const result = await pool.query<{ id: string }>(
        `INSERT INTO alarms (source, site, alarm, key, severity, state, raised_at, last_seen_at)
         VALUES ('gateway', $1, 'door-forced', $2, 'critical', $3, $4, $5) RETURNING id`,
        [
          site,
          fields.key ?? `door-forced:${randomUUID()}`,
          fields.state ?? 'active',
          new Date(clock.now() - raisedAge),
          new Date(clock.now() - (fields.lastSeenAge ?? raisedAge)),
        ],
      );
      return Number(result.rows[0]?.id);
    },
    async quarantined(age, payload = '{"not":"an event"}') {
      await pool.query(
        `INSERT INTO quarantine (received_at, topic, reason, detail, payload) VALUES ($1, 'identgate/v1/berlin/gw-berlin/events', 'malformed', 'test', $2)`,
        [new Date(clock.now() - age), Buffer.from(payload)],
      );
    },
    async eventIds() {
      return (await pool.query<{ id: string }>('SELECT id FROM events ORDER BY occurred_at')).rows.map(
        (r) => r.id,
      );
    },
    partitionNames,
    async snapshot() {
      const rows = async (sql: string) => (await pool.query(sql)).rows;
      return {
        events: await rows('SELECT id, site, occurred_at FROM events ORDER BY id'),
        sequences: await rows('SELECT site, gateway, seq FROM event_sequences ORDER BY 1, 2, 3'),
        gatewaySequences: await rows('SELECT * FROM gateway_sequences ORDER BY 1, 2'),
        alarms: await rows('SELECT id FROM alarms ORDER BY id'),
        quarantine: await rows('SELECT id FROM quarantine ORDER BY id'),
        partitions: await partitionNames(),
      };
    },
    databaseUrl: database.url,
    async close() {
      closing = true;
      await pool.end();
      await database.drop();
    },
  };
}
