import type { Pool } from 'pg';

/**
 * Which people each workstation was told it may let log in (lock on leave), kept where every
 * dashboard instance and the next start find it. Removing a row is the claim to lock: whoever
 * removes it sends the workstation its lock, so the lock goes out once, whichever instance sees
 * the person leave. A row whose person was erased names nobody (`person` null) and is still locked.
 */
export interface WorkstationSession {
  workstation: string;
  /** The workstation's site, where its lock command goes. */
  site: string;
  person: string | null;
  /** Epoch ms of the last allowed login check. */
  allowedAt: number;
}

export interface WorkstationSessionStore {
  /** Records that the workstation may let the person log in (again: the time moves on). */
  allowed(session: WorkstationSession & { person: string }): Promise<void>;
  /** Removes the person's sessions; returns those this caller must lock. */
  claimPerson(person: string): Promise<WorkstationSession[]>;
  /** Every session. */
  list(): Promise<WorkstationSession[]>;
  /** Removes exactly this session as listed; false when someone else removed it, or it was allowed again. */
  claim(session: WorkstationSession): Promise<boolean>;
}

interface Row {
  workstation_id: string;
  site: string;
  person_id: string | null;
  allowed_at: Date;
}

const fromRow = (r: Row): WorkstationSession => ({
  workstation: r.workstation_id,
  site: r.site,
  person: r.person_id,
  allowedAt: r.allowed_at.getTime(),
});

const byWorkstation = (a: WorkstationSession, b: WorkstationSession) =>
  a.workstation.localeCompare(b.workstation) || (a.person ?? '').localeCompare(b.person ?? '');

/** The `workstation_sessions` table (migration 31). */
export class PgWorkstationSessionStore implements WorkstationSessionStore {
  constructor(private readonly pool: Pool) {}

  /** The site comes from the workstation's row. */
  async allowed(session: WorkstationSession & { person: string }): Promise<void> {
    await this.pool.query(
      `INSERT INTO workstation_sessions (workstation_id, person_id, allowed_at) VALUES ($1, $2, $3)
       ON CONFLICT (workstation_id, person_id) DO UPDATE SET allowed_at = EXCLUDED.allowed_at`,
      [session.workstation, session.person, new Date(session.allowedAt)],
    );
  }

  async claimPerson(person: string): Promise<WorkstationSession[]> {
    const result = await this.pool.query<Row>(
      `DELETE FROM workstation_sessions s USING workstations w
        WHERE w.id = s.workstation_id AND s.person_id = $1
        RETURNING s.workstation_id, w.site, s.person_id, s.allowed_at`,
      [person],
    );
    return result.rows.map(fromRow).sort(byWorkstation);
  }

  async list(): Promise<WorkstationSession[]> {
    const result = await this.pool.query<Row>(
      `SELECT s.workstation_id, w.site, s.person_id, s.allowed_at
         FROM workstation_sessions s JOIN workstations w ON w.id = s.workstation_id`,
    );
    return result.rows.map(fromRow).sort(byWorkstation);
  }

  async claim(session: WorkstationSession): Promise<boolean> {
    const result = await this.pool.query(
      `DELETE FROM workstation_sessions
        WHERE workstation_id = $1 AND person_id IS NOT DISTINCT FROM $2 AND allowed_at = $3`,
      [session.workstation, session.person, new Date(session.allowedAt)],
    );
    return (result.rowCount ?? 0) > 0;
  }
}

/** The same in memory: one process, lost at its end (tests, and a dashboard without the table). */
export class MemoryWorkstationSessionStore implements WorkstationSessionStore {
  private readonly rows: WorkstationSession[] = [];

  async allowed(session: WorkstationSession & { person: string }): Promise<void> {
    const row = this.rows.find((r) => r.workstation === session.workstation && r.person === session.person);
    if (row) row.allowedAt = session.allowedAt;
    else this.rows.push({ ...session });
  }

  async claimPerson(person: string): Promise<WorkstationSession[]> {
    return this.take((r) => r.person === person).sort(byWorkstation);
  }

  async list(): Promise<WorkstationSession[]> {
    return this.rows.map((r) => ({ ...r })).sort(byWorkstation);
  }

  async claim(session: WorkstationSession): Promise<boolean> {
    return (
      this.take(
        (r) =>
          r.workstation === session.workstation &&
          r.person === session.person &&
          r.allowedAt === session.allowedAt,
      ).length > 0
    );
  }

  /** What an erasure does to the table: the rows stay, naming nobody. */
  erase(person: string): void {
    for (const row of this.rows) if (row.person === person) row.person = null;
  }

  private take(match: (row: WorkstationSession) => boolean): WorkstationSession[] {
    const taken = this.rows.filter(match);
    for (const row of taken) this.rows.splice(this.rows.indexOf(row), 1);
    return taken;
  }
}
