import type { EventPartition } from '../../controllers/retention/event-partition-planner.js';
import { DAY_MS } from '../../controllers/retention/policy-book.js';
import type { Queryable } from '../storage/event-store.js';
import type { StorageMode } from '../storage/migrator.js';

/**
 * The only SQL that differs between the storage paths: how the day partitions (native) or the
 * 1-day chunks (TimescaleDB) of `events` are listed and dropped. Everything else — counting,
 * batched deletes, sequence clean-up — runs on the partition or chunk table the same way.
 * TimescaleDB's own retention policy is not used: it cannot keep one customer's rows longer
 * than another's inside a chunk, so whole chunks go through drop_chunks and the rest through
 * the same batched deletes as the native path.
 */
export interface StoredPartition extends EventPartition {
  /** Schema-qualified, quoted table name, safe to put into SQL. */
  table: string;
}

export interface PartitionSql {
  list(db: Queryable): Promise<StoredPartition[]>;
  /** Runs inside the caller's transaction, after the caller locked the table. */
  drop(db: Queryable, partition: StoredPartition): Promise<void>;
  /** Of these UTC days (`YYYY-MM-DD`), those whose events have nowhere to go yet. */
  missingDays(db: Queryable, days: readonly string[]): Promise<string[]>;
}

const NATIVE_NAME = /^events_p(\d{4})(\d{2})(\d{2})$/;

export const nativePartitions: PartitionSql = {
  async list(db) {
    const result = await db.query<{ table_name: string; name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS table_name, c.relname AS name
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = 'events'::regclass`,
    );
    // Bounds come from the name identgate_ensure_event_partitions gives; anything else (an
    // operator's own partition) is left alone.
    return result.rows.flatMap((row) => {
      const match = NATIVE_NAME.exec(row.name);
      if (!match) return [];
      const from = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
      return [{ name: row.name, table: row.table_name, from, to: from + DAY_MS }];
    });
  },
  async drop(db, partition) {
    await db.query(`DROP TABLE ${partition.table}`);
  },
  async missingDays(db, days) {
    const result = await db.query<{ day: string }>(
      `SELECT to_char(d, 'YYYY-MM-DD') AS day FROM unnest($1::date[]) AS d
        WHERE to_regclass(format('events_p%s', to_char(d, 'YYYYMMDD'))) IS NULL ORDER BY d`,
      [days],
    );
    return result.rows.map((r) => r.day);
  },
};

export const timescalePartitions: PartitionSql = {
  async list(db) {
    const result = await db.query<{ table_name: string; name: string; range_start: Date; range_end: Date }>(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS table_name, chunk_name AS name, range_start, range_end
         FROM timescaledb_information.chunks
        WHERE hypertable_schema = current_schema() AND hypertable_name = 'events'`,
    );
    return result.rows.map((row) => ({
      name: row.name,
      table: row.table_name,
      from: row.range_start.getTime(),
      to: row.range_end.getTime(),
    }));
  },
  async drop(db, partition) {
    await db.query(
      `SELECT drop_chunks('events', older_than => $2::timestamptz, newer_than => $1::timestamptz)`,
      [new Date(partition.from), new Date(partition.to)],
    );
  },
  async missingDays() {
    return []; // TimescaleDB creates a chunk with its first row
  },
};

export function partitionSqlFor(mode: StorageMode): PartitionSql {
  return mode === 'timescale' ? timescalePartitions : nativePartitions;
}
