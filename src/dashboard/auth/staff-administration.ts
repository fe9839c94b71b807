import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { AuditEntry, AuditLog } from '../audit/audit-log.js';
import { auditedChange } from '../audit/audited-change.js';
import { AuthErrors } from './auth-errors.js';
import { hashPassword } from './password-hasher.js';
import { passwordProblems } from './password-policy.js';
import type { SessionStore } from './session-store.js';
import type { Role, StaffAccount, StaffStore } from './staff-store.js';

/**
 * Making and changing staff accounts: the one-time setup token that creates the first
 * administrator, new accounts, and an administrator's changes to another account. Every change
 * is written to the audit log in the same transaction as the change itself, so none lands
 * unaudited. Signing in is AuthService's story.
 */

export interface NewAccount {
  login: string;
  displayName: string;
  password: string;
}

export interface AccountChange {
  role?: Role;
  disabled?: boolean;
  resetTotp?: boolean;
  password?: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Refuses a password the policy finds weak for that login and name, naming every problem. */
export function assertPassword(password: string, login: string, name: string): void {
  const problems = passwordProblems(password, { login, name });
  if (problems.length > 0) throw new AuthErrors.weakPassword(problems.join('; '));
}

export class StaffAdministration {
  constructor(
    private readonly deps: {
      pool: Pool;
      staff: StaffStore;
      sessions: SessionStore;
      audit: AuditLog;
    },
  ) {}

  /** While no administrator exists, a fresh one-time token (valid 24 h) to create the first one. */
  async setupToken(): Promise<string | undefined> {
    if ((await this.deps.staff.countAdmins()) > 0) return undefined;
    const token = randomBytes(16).toString('base64url');
    await auditedChange(
      this.deps.pool,
      (db) =>
        db.query(
          `INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, now() + interval '24 hours')`,
          [sha256(token)],
        ),
      () => ({ actor: 'system', action: 'staff.setup-token-issued' }),
    );
    return token;
  }

  async setup(token: string, input: NewAccount): Promise<StaffAccount> {
    // Input is checked before the token is spent: a weak password does not burn it.
    await this.checkNewAccount(input);
    const used = await this.deps.pool.query(
      `UPDATE setup_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         AND NOT EXISTS (SELECT 1 FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL)`,
      [sha256(token)],
    );
    if (used.rowCount !== 1) {
      // About no account: no address (see aboutAttempt in auth-service.ts).
      await this.deps.audit.record({ actor: 'anonymous', action: 'staff.setup-refused' });
      throw new AuthErrors.setup(
        'the setup token is unknown, used or expired, or an administrator exists already',
      );
    }
    try {
      return await this.createAccount({ ...input, role: 'admin' }, 'setup');
    } catch (error) {
      await this.deps.pool.query('UPDATE setup_tokens SET used_at = NULL WHERE token_hash = $1', [
        sha256(token),
      ]);
      throw error;
    }
  }

  async createAccount(input: NewAccount & { role: Role }, createdBy: string): Promise<StaffAccount> {
    const login = await this.checkNewAccount(input);
    const passwordHash = await hashPassword(input.password);
    return auditedChange(
      this.deps.pool,
      (db) =>
        this.deps.staff.create(
          {
            login,
            displayName: input.displayName.trim().slice(0, 120),
            role: input.role,
            passwordHash,
            createdBy,
          },
          db,
        ),
      () => ({
        actor: createdBy,
        action: 'staff.created',
        target: `staff:${login}`,
        details: { role: input.role },
      }),
    );
  }

  /**
   * An administrator changes another account: role, enabled, a forgotten authenticator (the owner
   * enrols anew at the next sign-in) or a new password. The account's sessions end with any of
   * these; the last enabled administrator cannot be demoted or disabled.
   */
  async administer(actor: StaffAccount, login: string, change: AccountChange): Promise<StaffAccount> {
    const target = await this.deps.staff.byLogin(login);
    if (!target) throw new AuthErrors.notFound(`no staff account "${login}"`);
    if (target.id === actor.id && (change.role !== undefined || change.disabled !== undefined)) {
      throw new AuthErrors.conflict('another administrator must change your own role or disable you');
    }
    if (change.password !== undefined) assertPassword(change.password, target.login, target.displayName);
    // Hashed before the transaction: it takes a quarter of a second and needs no lock.
    const passwordHash = change.password === undefined ? undefined : await hashPassword(change.password);
    const who = `staff:${actor.login}`;
    const what = `staff:${target.login}`;
    await auditedChange(
      this.deps.pool,
      async (db) => {
        // One administrator's change at a time: two administrators disabling each other at the
        // same moment must not both see the other as the spare and leave none.
        await db.query(`SELECT pg_advisory_xact_lock(hashtext('identgate/staff-administration'))`);
        const current = await this.deps.staff.byId(target.id, db);
        if (!current) throw new AuthErrors.notFound(`no staff account "${login}"`);
        const demotes = change.role !== undefined && change.role !== 'admin' && current.role === 'admin';
        const disables = change.disabled === true && !current.disabledAt && current.role === 'admin';
        if ((demotes || disables) && (await this.deps.staff.countAdmins(db)) <= 1) {
          throw new AuthErrors.conflict('this is the last enabled administrator; make another one first');
        }
        const entries: AuditEntry[] = [];
        if (passwordHash !== undefined) {
          await this.deps.staff.setPassword(current.id, passwordHash, db);
          entries.push({ actor: who, action: 'staff.password-reset', target: what });
        }
        if (change.role !== undefined && change.role !== current.role) {
          await this.deps.staff.setRole(current.id, change.role, db);
          entries.push({
            actor: who,
            action: 'staff.role-changed',
            target: what,
            details: { from: current.role, to: change.role },
          });
        }
        if (change.disabled !== undefined && change.disabled !== (current.disabledAt !== null)) {
          await this.deps.staff.setDisabled(current.id, change.disabled, db);
          entries.push({
            actor: who,
            action: change.disabled ? 'staff.disabled' : 'staff.enabled',
            target: what,
          });
        }
        if (change.resetTotp) {
          await this.deps.staff.resetTotp(current.id, db);
          entries.push({ actor: who, action: 'staff.totp-reset', target: what });
        }
        const ended = await this.deps.sessions.revokeAll(current.id, undefined, db);
        if (ended > 0)
          entries.push({
            actor: who,
            action: 'staff.sessions-ended',
            target: what,
            details: { sessions: ended },
          });
        return entries;
      },
      (entries) => entries,
    );
    return (await this.deps.staff.byId(target.id)) as StaffAccount;
  }

  private async checkNewAccount(input: NewAccount): Promise<string> {
    const login = input.login.trim().toLowerCase();
    if (!/^[a-z0-9][a-z0-9._-]{1,63}$/.test(login)) {
      throw new AuthErrors.badInput(
        'a login is 2-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    assertPassword(input.password, login, input.displayName);
    if (await this.deps.staff.byLogin(login)) throw new AuthErrors.conflict(`login "${login}" is taken`);
    return login;
  }
}
