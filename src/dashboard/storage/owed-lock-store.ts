import type { Pool, PoolClient } from 'pg';
import type { PresenceEnd } from '../../controllers/presence/presence-tracker.js';
import type { Queryable } from './event-store.js';
import { withTransaction } from './transaction.js';

/**
 * Locks on leave that a workstation has not confirmed yet (`workstation_locks`, migration 32).
 * A lock is owed from its first send until the agent reports `ok` for any of its commands; any
 * dashboard instance sends it again when it is due, one instance per lock and send.
 */
export interface OwedLock {
  id: string;
  workstation: string;
  /** The workstation's site, where its lock command goes. */
  site: string;
  /** Null once the person was erased: the lock then names nobody. */
  person: string | null;
  reason: PresenceEnd;
  owedSince: number;
  /** The command sent last (by claimDue: the one to send now). */
  command: string;
  /** Sends so far, the one to send now included. */
  attempts: number;
  alarmed: boolean;
}

export interface ResendPolicy {
  /** The wait after the first send; each further send waits twice as long as the one before. */
  firstWaitMs: number;
  maxWaitMs: number;
  /** Owed this long, a lock is given up. */
  giveUpMs: number;
}

interface Row {
  id: string;
  workstation_id: string;
  site: string;
  person_id: string | null;
  reason: PresenceEnd;
  owed_since: Date;
  command: string;
  attempts: number;
  alarmed: boolean;
}

const COLUMNS = `l.id, l.workstation_id, w.site, l.person_id, l.reason, l.owed_since,
  l.commands[cardinality(l.commands)]::text AS command, l.attempts, l.alarmed`;

const fromRow = (r: Row): OwedLock => ({
  id: r.id,
  workstation: r.workstation_id,
  site: r.site,
  person: r.person_id,
  reason: r.reason,
  owedSince: r.owed_since.getTime(),
  command: r.command,
  attempts: r.attempts,
  alarmed: r.alarmed,
});

export class PgOwedLockStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Records a lock as owed and sent now, its id being its first command's, and says whom it names
   * (nobody once the person was erased meanwhile); undefined, recording nothing, when the workstation's agent said it shut down (read under a share lock on its row,
   * so a shutdown being recorded either waits for this row and settles it, or is seen here). A
   * person the directory no longer holds (erased meanwhile) is not named.
   */
  async owe(lock: {
    id: string;
    workstation: string;
    person: string | null;
    reason: PresenceEnd;
    at: number;
  }): Promise<{ person: string | null } | undefined> {
    const result = await this.pool.query<{ person_id: string | null }>(
      `INSERT INTO workstation_locks (id, workstation_id, person_id, reason, owed_since, commands, sent_at, attempts)
       SELECT $1, w.id, (SELECT id FROM people WHERE id = $3), $4, $5, ARRAY[$1::uuid], $5, 1
         FROM workstations w WHERE w.id = $2 AND w.agent_shutdown_at IS NULL
          FOR SHARE OF w
       RETURNING person_id`,
      [lock.id, lock.workstation, lock.person, lock.reason, new Date(lock.at)],
    );
    const row = result.rows[0];
    // Whom the lock names: nobody once the person was erased meanwhile.
    return row ? { person: row.person_id } : undefined;
  }

  /**
   * Claims the locks due to be sent again (their last send unanswered for its wait), gives each
   * the next command id and counts the send. A lock another instance is claiming is skipped, as
   * is one of a workstation shut down.
   */
  async claimDue(
    nowMs: number,
    policy: ResendPolicy,
    nextId: () => string,
    limit = 100,
  ): Promise<OwedLock[]> {
    return withTransaction(this.pool, async (db) => {
      const due = await db.query<{ id: string }>(
        `SELECT l.id FROM workstation_locks l
          WHERE l.owed_since > $1
            AND l.sent_at + least($3::float8, $2::float8 * power(2, l.attempts - 1)) * interval '1 millisecond' <= $4
            AND NOT EXISTS (SELECT 1 FROM workstations w WHERE w.id = l.workstation_id AND w.agent_shutdown_at IS NOT NULL)
          ORDER BY l.sent_at, l.id LIMIT $5 FOR UPDATE OF l SKIP LOCKED`,
        [new Date(nowMs - policy.giveUpMs), policy.firstWaitMs, policy.maxWaitMs, new Date(nowMs), limit],
      );
      if (due.rows.length === 0) return [];
      const ids = due.rows.map((r) => r.id);
      const result = await db.query<Row>(
        `WITH next AS (SELECT * FROM unnest($1::uuid[], $2::uuid[]) AS n (id, command)),
         sent AS (
           UPDATE workstation_locks l SET commands = l.commands || next.command, sent_at = $3,
                  attempts = l.attempts + 1
             FROM next WHERE l.id = next.id
           RETURNING l.*)
         SELECT ${COLUMNS} FROM sent l JOIN workstations w ON w.id = l.workstation_id ORDER BY l.owed_since, l.id`,
        [ids, ids.map(() => nextId()), new Date(nowMs)],
      );
      return result.rows.map(fromRow);
    });
  }

  /** The locks owed longer than the policy allows (each is then given up with giveUp()). */
  async overdue(nowMs: number, policy: ResendPolicy): Promise<OwedLock[]> {
    const result = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM workstation_locks l JOIN workstations w ON w.id = l.workstation_id
        WHERE l.owed_since <= $1 ORDER BY l.owed_since, l.id`,
      [new Date(nowMs - policy.giveUpMs)],
    );
    return result.rows.map(fromRow);
  }

  /** Removes the lock; false when it was gone already. */
  async giveUp(id: string, db: Queryable): Promise<boolean> {
    const result = await db.query('DELETE FROM workstation_locks WHERE id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  /** Marks the lock as alarmed; false when it already was or is gone. */
  async markAlarmed(id: string, db: Queryable): Promise<boolean> {
    const result = await db.query(
      'UPDATE workstation_locks SET alarmed = true WHERE id = $1 AND NOT alarmed',
      [id],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * The agent locked for `command`: that lock is settled, and so is every lock of the workstation
   * owed no later than it (a lock ran after they were owed, and it locks every session). Says how
   * many were settled.
   */
  async settle(workstation: string, command: string, db: Queryable): Promise<number> {
    const result = await db.query(
      `DELETE FROM workstation_locks
        WHERE workstation_id = $1
          AND owed_since <= (SELECT max(owed_since) FROM workstation_locks
                              WHERE workstation_id = $1 AND $2::text = ANY (commands::text[]))`,
      [workstation, command],
    );
    return result.rowCount ?? 0;
  }

  /**
   * Runs `work` in a transaction holding the workstation's row: changes to its owed locks and the
   * alarm decision that follows them happen one workstation-change at a time, and together or not
   * at all. Undefined when the workstation is not registered (any more).
   */
  async underWorkstation<T>(workstation: string, work: (db: PoolClient, site: string) => Promise<T>) {
    return withTransaction(this.pool, async (db): Promise<T | undefined> => {
      const row = await db.query<{ site: string }>(
        'SELECT site FROM workstations WHERE id = $1 FOR NO KEY UPDATE',
        [workstation],
      );
      const site = row.rows[0]?.site;
      return site === undefined ? undefined : work(db, site);
    });
  }

  /** How many of the workstation's owed locks are marked alarmed. */
  async alarmedCount(workstation: string, db: Queryable): Promise<number> {
    const result = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM workstation_locks WHERE workstation_id = $1 AND alarmed',
      [workstation],
    );
    return result.rows[0]?.n ?? 0;
  }

  /** The owed lock one of whose commands is `command`, if it is still owed. */
  async find(workstation: string, command: string): Promise<OwedLock | undefined> {
    const result = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM workstation_locks l JOIN workstations w ON w.id = l.workstation_id
        WHERE l.workstation_id = $1 AND $2::text = ANY (l.commands::text[])`,
      [workstation, command],
    );
    const row = result.rows[0];
    return row ? fromRow(row) : undefined;
  }

  /** When the workstation's agent said it shuts down, if it has not reported since. */
  async shutDownAt(workstation: string): Promise<number | undefined> {
    const result = await this.pool.query<{ at: Date | null }>(
      'SELECT agent_shutdown_at AS at FROM workstations WHERE id = $1',
      [workstation],
    );
    return result.rows[0]?.at?.getTime() ?? undefined;
  }

  /**
   * The workstation shuts down (its agent said so; called under its row): noted, and every lock
   * owed there is removed and returned, its sessions ending with it.
   */
  async shutDown(workstation: string, db: Queryable): Promise<string[]> {
    await db.query('UPDATE workstations SET agent_seen_at = now(), agent_shutdown_at = now() WHERE id = $1', [
      workstation,
    ]);
    const result = await db.query<{ id: string }>(
      'DELETE FROM workstation_locks WHERE workstation_id = $1 RETURNING id',
      [workstation],
    );
    return result.rows.map((r) => r.id).sort();
  }

  /** Every owed lock (tests, the dashboard's view). */
  async list(): Promise<OwedLock[]> {
    const result = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM workstation_locks l JOIN workstations w ON w.id = l.workstation_id
        ORDER BY l.owed_since, l.id`,
    );
    return result.rows.map(fromRow);
  }
}
