import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { storableJson, storableText } from '../storage/database.js';
import type { Queryable } from '../storage/event-store.js';

/**
 * The shared audit log: who (`staff:<login>`, `cli:<os user>`, `system`, `anonymous`) did what
 * (`staff.login`, `door.remote-unlock`, `retention.policy.set`, `person.erase` …) to what, with
 * details that carry settings, addresses and counts, never secrets or an agent's personal data.
 * Written in the same transaction as the change it records where there is one.
 */
export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  details: Record<string, unknown>;
}

/**
 * `id`: drawn beforehand from the table's sequence, where the entry must name itself
 * (erasure-list.ts). Answers the entry's id.
 */
export async function writeAudit(
  db: Queryable,
  entry: AuditEntry,
  at: Date = new Date(),
  id?: number,
): Promise<number> {
  // Details and targets carry what staff typed and gateways reported: sanitised, so that no text
  // can make the entry fail (and with it the action it records).
  const values = [
    at,
    storableText(entry.actor.slice(0, 200)),
    entry.action,
    entry.target === undefined || entry.target === null ? null : storableText(entry.target.slice(0, 300)),
    storableJson(entry.details ?? {}),
  ];
  const inserted = await (id === undefined
    ? db.query<{ id: string }>(
        'INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5) RETURNING id',
        values,
      )
    : db.query<{ id: string }>(
        'INSERT INTO audit_log (id, at, actor, action, target, details) VALUES ($6, $1, $2, $3, $4, $5) RETURNING id',
        [...values, id],
      ));
  return Number(inserted.rows[0]?.id);
}

export const AUDIT_UNAVAILABLE = 'IDG_AUDIT_UNAVAILABLE';

/**
 * The audit entry of a change (or of a look at personal data) could not be written, so the change
 * was rolled back with it (or nothing was shown). An HTTP answer says 503 with this code, and the
 * caller may try again.
 */
export class AuditUnavailableError extends CodedError {
  readonly statusCode = 503;

  constructor(action: string, cause: unknown, outcome = 'nothing was changed') {
    super(AUDIT_UNAVAILABLE, `${outcome}: the audit entry (${action}) could not be written`, { cause });
  }
}

/**
 * Writes an entry that must be written before (or with) what it records; one that cannot be is
 * an AuditUnavailableError naming `outcome`, for the caller's transaction to roll back and the
 * answer to say 503. Answers the entry's id.
 */
export async function auditOrRefuse(db: Queryable, entry: AuditEntry, outcome?: string): Promise<number> {
  try {
    return await writeAudit(db, entry);
  } catch (error) {
    throw new AuditUnavailableError(entry.action, error, outcome);
  }
}

export class AuditLog {
  constructor(private readonly pool: Pool) {}

  /** Answers the entry's id. */
  record(entry: AuditEntry, db: Queryable = this.pool): Promise<number> {
    return writeAudit(db, entry);
  }

  /** As record(), but a failure is an AuditUnavailableError (503) saying `outcome`. */
  recordOrRefuse(entry: AuditEntry, outcome?: string, db: Queryable = this.pool): Promise<number> {
    return auditOrRefuse(db, entry, outcome);
  }

  /**
   * Newest first. `action` is a prefix (`retention.` or `alarm.acknowledge`); `actor` matches
   * exactly, or as a prefix when it ends in a colon (`staff:`); `before` is an entry id (the next
   * page).
   */
  async recent(
    options: { limit?: number; action?: string; actor?: string; before?: number } = {},
  ): Promise<AuditRow[]> {
    const result = await this.pool.query<{
      id: string;
      at: Date;
      actor: string;
      action: string;
      target: string | null;
      details: Record<string, unknown>;
    }>(
      `SELECT id, at, actor, action, target, details FROM audit_log
        WHERE ($2::text IS NULL OR starts_with(action, $2))
          AND ($3::text IS NULL
               OR (CASE WHEN right($3, 1) = ':' THEN starts_with(actor, $3) ELSE actor = $3 END))
          AND ($4::bigint IS NULL OR id < $4)
        ORDER BY id DESC LIMIT $1`,
      [options.limit ?? 100, options.action ?? null, options.actor ?? null, options.before ?? null],
    );
    return result.rows.map((r) => ({
      id: Number(r.id),
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      target: r.target,
      details: r.details,
    }));
  }
}
