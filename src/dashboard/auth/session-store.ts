import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { Queryable } from '../storage/event-store.js';

/**
 * Server-side sessions. The browser holds a random 256-bit token; the database only its
 * SHA-256, so a copy of the database does not let anyone in. Idle and absolute timeouts are
 * enforced on every request.
 */
export type SessionStage = 'totp' | 'enrol' | 'active';

export interface Session {
  staffId: string;
  stage: SessionStage;
  csrfToken: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  reauthAt: Date | null;
}

export const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

export class SessionStore {
  constructor(private readonly pool: Pool) {}

  async create(
    staffId: string,
    stage: SessionStage,
    absoluteMs: number,
    meta: { address?: string; userAgent?: string },
    db: Queryable = this.pool,
  ): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const result = await db.query<{ created_at: Date; last_seen_at: Date; expires_at: Date }>(
      `INSERT INTO staff_sessions (token_hash, staff_id, stage, csrf_token, expires_at, address, user_agent)
       VALUES ($1, $2, $3, $4, now() + ($5 || ' milliseconds')::interval, $6, $7)
       RETURNING created_at, last_seen_at, expires_at`,
      [
        hashToken(token),
        staffId,
        stage,
        csrfToken,
        String(absoluteMs),
        meta.address ?? null,
        meta.userAgent?.slice(0, 300) ?? null,
      ],
    );
    const row = result.rows[0] as { created_at: Date; last_seen_at: Date; expires_at: Date };
    return {
      token,
      session: {
        staffId,
        stage,
        csrfToken,
        createdAt: row.created_at,
        lastSeenAt: row.last_seen_at,
        expiresAt: row.expires_at,
        reauthAt: null,
      },
    };
  }

  /** The live session for a token, touching its last-seen time; undefined when unknown, idle or expired. */
  async find(token: string, idleMs: number): Promise<Session | undefined> {
    const result = await this.pool.query<{
      staff_id: string;
      stage: SessionStage;
      csrf_token: string;
      created_at: Date;
      last_seen_at: Date;
      expires_at: Date;
      reauth_at: Date | null;
    }>(
      `UPDATE staff_sessions SET last_seen_at = now()
        WHERE token_hash = $1 AND expires_at > now() AND last_seen_at > now() - ($2 || ' milliseconds')::interval
        RETURNING staff_id, stage, csrf_token, created_at, last_seen_at, expires_at, reauth_at`,
      [hashToken(token), String(idleMs)],
    );
    const row = result.rows[0];
    if (!row) return undefined;
    return {
      staffId: row.staff_id,
      stage: row.stage,
      csrfToken: row.csrf_token,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      expiresAt: row.expires_at,
      reauthAt: row.reauth_at,
    };
  }

  /** False when the session is gone (ended meanwhile, by an administrator say). */
  async setStage(token: string, stage: SessionStage, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query('UPDATE staff_sessions SET stage = $2 WHERE token_hash = $1', [
      hashToken(token),
      stage,
    ]);
    return result.rowCount === 1;
  }

  /** False when the session is gone. */
  async markReauthenticated(token: string, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query('UPDATE staff_sessions SET reauth_at = now() WHERE token_hash = $1', [
      hashToken(token),
    ]);
    return result.rowCount === 1;
  }

  async revoke(token: string): Promise<void> {
    await this.pool.query('DELETE FROM staff_sessions WHERE token_hash = $1', [hashToken(token)]);
  }

  /** Ends every session of an account (password change, disabling, role change), except `keep`. */
  async revokeAll(staffId: string, keep?: string, db: Queryable = this.pool): Promise<number> {
    const result = await db.query(
      'DELETE FROM staff_sessions WHERE staff_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)',
      [staffId, keep ? hashToken(keep) : null],
    );
    return result.rowCount ?? 0;
  }

  async purgeExpired(idleMs: number): Promise<number> {
    const result = await this.pool.query(
      `DELETE FROM staff_sessions WHERE expires_at <= now() OR last_seen_at <= now() - ($1 || ' milliseconds')::interval`,
      [String(idleMs)],
    );
    return result.rowCount ?? 0;
  }
}
