import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import type { Queryable } from '../storage/event-store.js';

/** Staff accounts as stored: one per person, with one role. */
export type Role = 'admin' | 'security' | 'auditor';
export const ROLES: readonly Role[] = ['admin', 'security', 'auditor'];

export interface StaffAccount {
  id: string;
  login: string;
  displayName: string;
  role: Role;
  passwordHash: string;
  totpSecretSealed: string | null;
  totpPendingSealed: string | null;
  totpLastStep: number;
  totpEnrolledAt: Date | null;
  disabledAt: Date | null;
  createdAt: Date;
}

interface Row {
  id: string;
  login: string;
  display_name: string;
  role: Role;
  password_hash: string;
  totp_secret_sealed: string | null;
  totp_pending_sealed: string | null;
  totp_last_step: string;
  totp_enrolled_at: Date | null;
  disabled_at: Date | null;
  created_at: Date;
}

const fromRow = (r: Row): StaffAccount => ({
  id: r.id,
  login: r.login,
  displayName: r.display_name,
  role: r.role,
  passwordHash: r.password_hash,
  totpSecretSealed: r.totp_secret_sealed,
  totpPendingSealed: r.totp_pending_sealed,
  totpLastStep: Number(r.totp_last_step),
  totpEnrolledAt: r.totp_enrolled_at,
  disabledAt: r.disabled_at,
  createdAt: r.created_at,
});

export class StaffStore {
  constructor(private readonly pool: Pool) {}

  async create(
    account: {
      login: string;
      displayName: string;
      role: Role;
      passwordHash: string;
      createdBy: string;
    },
    db: Queryable = this.pool,
  ): Promise<StaffAccount> {
    const result = await db.query<Row>(
      `INSERT INTO staff_accounts (id, login, display_name, role, password_hash, created_by)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [
        randomUUID(),
        account.login.toLowerCase(),
        account.displayName,
        account.role,
        account.passwordHash,
        account.createdBy,
      ],
    );
    return fromRow(result.rows[0] as Row);
  }

  async byLogin(login: string): Promise<StaffAccount | undefined> {
    const result = await this.pool.query<Row>('SELECT * FROM staff_accounts WHERE login = $1', [
      login.toLowerCase(),
    ]);
    return result.rows[0] ? fromRow(result.rows[0]) : undefined;
  }

  async byId(id: string, db: Queryable = this.pool): Promise<StaffAccount | undefined> {
    const result = await db.query<Row>('SELECT * FROM staff_accounts WHERE id = $1', [id]);
    return result.rows[0] ? fromRow(result.rows[0]) : undefined;
  }

  async list(): Promise<StaffAccount[]> {
    const result = await this.pool.query<Row>('SELECT * FROM staff_accounts ORDER BY login');
    return result.rows.map(fromRow);
  }

  async anyExists(db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM staff_accounts) AS any');
    return result.rows[0]?.any === true;
  }

  async countAdmins(db: Queryable = this.pool): Promise<number> {
    const result = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL`,
    );
    return Number(result.rows[0]?.n ?? 0);
  }

  async setPassword(id: string, passwordHash: string, db: Queryable = this.pool): Promise<void> {
    await db.query(
      'UPDATE staff_accounts SET password_hash = $2, password_changed_at = now() WHERE id = $1',
      [id, passwordHash],
    );
  }

  async setRole(id: string, role: Role, db: Queryable = this.pool): Promise<void> {
    await db.query('UPDATE staff_accounts SET role = $2 WHERE id = $1', [id, role]);
  }

  async setDisabled(id: string, disabled: boolean, db: Queryable = this.pool): Promise<void> {
    await db.query(
      'UPDATE staff_accounts SET disabled_at = CASE WHEN $2 THEN now() ELSE NULL END WHERE id = $1',
      [id, disabled],
    );
  }

  /**
   * Sets (or replaces) the pending secret. With `firstOnly`, only while the account has no
   * confirmed secret yet: false when it has one (checked in the same statement that writes).
   */
  async setPendingTotp(id: string, sealed: string | null, firstOnly = false): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE staff_accounts SET totp_pending_sealed = $2 WHERE id = $1 AND (NOT $3 OR totp_secret_sealed IS NULL)',
      [id, sealed, firstOnly],
    );
    return result.rowCount === 1;
  }

  /**
   * Makes the pending secret the account's TOTP secret; the step used to confirm counts as used.
   * Only if the pending secret is still `pending` (the one the code was checked against) and, with
   * `firstOnly`, the account has no confirmed secret yet. One conditional statement, so a
   * concurrent enrolment cannot slip in between the check and the write; false when refused.
   */
  async confirmTotp(
    id: string,
    pending: string,
    step: number,
    firstOnly: boolean,
    db: Queryable = this.pool,
  ): Promise<boolean> {
    const result = await db.query(
      `UPDATE staff_accounts SET totp_secret_sealed = totp_pending_sealed, totp_pending_sealed = NULL,
         totp_last_step = $3, totp_enrolled_at = now()
       WHERE id = $1 AND totp_pending_sealed = $2 AND (NOT $4 OR totp_secret_sealed IS NULL)`,
      [id, pending, step, firstOnly],
    );
    return result.rowCount === 1;
  }

  async resetTotp(id: string, db: Queryable = this.pool): Promise<void> {
    await db.query(
      'UPDATE staff_accounts SET totp_secret_sealed = NULL, totp_pending_sealed = NULL, totp_enrolled_at = NULL WHERE id = $1',
      [id],
    );
  }

  /**
   * Consumes a TOTP time step for the account; false when it (or a later one) was used already.
   * Atomic, so two requests with the same code cannot both succeed.
   */
  async useTotpStep(id: string, step: number): Promise<boolean> {
    const result = await this.pool.query(
      'UPDATE staff_accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2',
      [id, step],
    );
    return result.rowCount === 1;
  }
}
