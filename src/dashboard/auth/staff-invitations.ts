import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { AuditEntry, AuditLog } from '../audit/audit-log.js';
import { auditedChange } from '../audit/audited-change.js';
import { AuthErrors } from './auth-errors.js';
import type { AuthService } from './auth-service.js';
import { hashPassword } from './password-hasher.js';
import { passwordProblems } from './password-policy.js';
import { hashToken, type SessionStore } from './session-store.js';
import { actorName, type StaffActor } from './staff-administration.js';
import type { Role, StaffAccount, StaffStore } from './staff-store.js';

/**
 * Staff accounts an administrator creates get a one-time enrolment link instead of a password:
 * the owner chooses the password through the link and enrols their authenticator at the first
 * sign-in, so the administrator never knows a credential of the account (personal accounts stay
 * personal). Until the link is used the account has a random password nobody knows. A new link
 * (a forgotten password) replaces the old one and ends the account's sessions. A link is issued
 * in the transaction of the account's creation or password reset, so that the change, its entries
 * and its one alarm (for a `security` or `admin` account) name the link too.
 */
export interface Invitation {
  token: string;
  expiresAt: string;
}

export const INVITATION_HOURS = 72;

export class StaffInvitations {
  constructor(
    private readonly deps: {
      pool: Pool;
      auth: AuthService;
      staff: StaffStore;
      sessions: SessionStore;
      audit: AuditLog;
    },
  ) {}

  async create(
    actor: StaffActor,
    input: { login: string; displayName: string; role: Role },
  ): Promise<{ account: StaffAccount; invitation: Invitation }> {
    const link = this.link(actor);
    const account = await this.deps.auth.createAccount(
      { ...input, password: unusablePassword(input.login, input.displayName) },
      actor,
      link.issue,
    );
    return { account, invitation: link.issued() };
  }

  /**
   * A new link for an existing account: its password stops working and its sessions end.
   * `resetTotp`: its authenticator too, so that the owner enrols anew after choosing a password
   * (an owner who lost both, recovered from the central host with `identgate user reset`);
   * `enable`: a disabled account is enabled in the same change.
   */
  async reissue(
    actor: StaffActor,
    login: string,
    options: { resetTotp?: boolean; enable?: boolean } = {},
  ): Promise<Invitation> {
    const target = await this.deps.staff.byLogin(login);
    if (!target) throw new AuthErrors.notFound(`no staff account "${login}"`);
    if (target.disabledAt && !options.enable)
      throw new AuthErrors.conflict(
        'the account is disabled: enable it together with the new link (?enable=true), so that its old password never works in between',
      );
    const link = this.link(actor);
    await this.deps.auth.administer(
      actor,
      target.login,
      {
        password: unusablePassword(target.login, target.displayName),
        ...(options.resetTotp ? { resetTotp: true } : {}),
        // Enabled in the same change: none of its old credentials works for a moment in between.
        ...(options.enable && target.disabledAt ? { disabled: false } : {}),
      },
      link.issue,
    );
    return link.issued();
  }

  async pending(): Promise<Set<string>> {
    const result = await this.deps.pool.query<{ staff_id: string }>(
      'SELECT staff_id FROM staff_invitations WHERE expires_at > now()',
    );
    return new Set(result.rows.map((r) => r.staff_id));
  }

  /** The owner sets their password through the link; the link works once. */
  async accept(token: string, password: string, address: string): Promise<StaffAccount> {
    const found = await this.deps.pool.query<{ staff_id: string }>(
      'SELECT staff_id FROM staff_invitations WHERE token_hash = $1 AND expires_at > now()',
      [hashToken(token)],
    );
    const account = found.rows[0] ? await this.deps.staff.byId(found.rows[0].staff_id) : undefined;
    if (!account || account.disabledAt) {
      // About no account: no address (see aboutAttempt in auth-service.ts).
      await this.deps.audit.record({ actor: 'anonymous', action: 'staff.invitation-refused' });
      throw new AuthErrors.setup('the enrolment link is unknown, used or expired; ask an administrator');
    }
    const problems = passwordProblems(password, { login: account.login, name: account.displayName });
    if (problems.length > 0) throw new AuthErrors.weakPassword(problems.join('; '));
    const passwordHash = await hashPassword(password);
    // The link is spent, the password set and the entry written together, or none of them.
    await auditedChange(
      this.deps.pool,
      async (db) => {
        const used = await db.query('DELETE FROM staff_invitations WHERE token_hash = $1', [
          hashToken(token),
        ]);
        // Two requests with the same link: only the one that removed it sets the password.
        if (used.rowCount !== 1) throw new AuthErrors.setup('the enrolment link was used already');
        await this.deps.staff.setPassword(account.id, passwordHash, db);
        await this.deps.sessions.revokeAll(account.id, undefined, db);
      },
      () => ({ actor: `staff:${account.login}`, action: 'staff.invitation-accepted', details: { address } }),
    );
    return account;
  }

  /**
   * A new link by `actor`: `issue` stores it within the account's change (replacing any earlier
   * one) and answers its entry; `issued` is the link once that change has committed.
   */
  private link(actor: StaffActor): {
    issue: (db: PoolClient, account: StaffAccount) => Promise<AuditEntry[]>;
    issued: () => Invitation;
  } {
    const token = randomBytes(24).toString('base64url');
    let expiresAt: string | undefined;
    return {
      issue: async (db, account) => {
        const result = await db.query<{ expires_at: Date }>(
          `INSERT INTO staff_invitations (staff_id, token_hash, created_by, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(hours => $4))
           ON CONFLICT (staff_id) DO UPDATE SET token_hash = EXCLUDED.token_hash, created_at = now(),
             created_by = EXCLUDED.created_by, expires_at = EXCLUDED.expires_at
           RETURNING expires_at`,
          [account.id, hashToken(token), actorName(actor), INVITATION_HOURS],
        );
        expiresAt = (result.rows[0] as { expires_at: Date }).expires_at.toISOString();
        const entry = {
          actor: actorName(actor),
          action: 'staff.invitation-issued',
          target: `staff:${account.login}`,
          details: { expiresAt },
        };
        return [entry];
      },
      issued: () => {
        if (expiresAt === undefined) throw new Error('the enrolment link was not stored');
        return { token, expiresAt };
      },
    };
  }
}

/** A random password that passes the policy and that nobody is told: the account waits for its link. */
function unusablePassword(login: string, name: string): string {
  for (;;) {
    const candidate = randomBytes(32).toString('base64url');
    if (passwordProblems(candidate, { login, name }).length === 0) return candidate;
  }
}
