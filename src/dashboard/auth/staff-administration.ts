import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { AuditEntry, AuditLog } from '../audit/audit-log.js';
import { auditedChange } from '../audit/audited-change.js';
import type { AlarmView } from '../http/schemas.js';
import type { AlarmStore, CentralAlarm } from '../storage/alarm-store.js';
import { AuthErrors } from './auth-errors.js';
import { hashPassword } from './password-hasher.js';
import { passwordProblems } from './password-policy.js';
import { privilegeAlarm } from './privilege-alarm.js';
import type { SessionStore } from './session-store.js';
import type { Role, StaffAccount, StaffStore } from './staff-store.js';

/**
 * Making and changing staff accounts: the one-time setup token that creates the first
 * administrator, new accounts, and an administrator's changes to another account. Every change
 * is written to the audit log in the same transaction as the change itself, so none lands
 * unaudited; one that could put a `security` or `admin` account in other hands raises a
 * `staff-privilege-granted` alarm in that transaction too (privilege-alarm.ts). Signing in is
 * AuthService's story.
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

/**
 * More of the same change, in its transaction, on the account as it stands: an enrolment link
 * issued with a new account or a reset password. Answers its audit entries.
 */
export type AlongWith = (db: PoolClient, account: StaffAccount) => Promise<readonly AuditEntry[]>;

/**
 * Who creates or changes an account: an administrator's account, read again in the
 * administrators' turn, or a tool on the central host (`setup`, `identgate user` as
 * `cli:<os user>`, a test's set-up), which has no account to lose and is named as it is.
 */
export type StaffActor = StaffAccount | { tool: string };

export const actorName = (actor: StaffActor) => ('tool' in actor ? actor.tool : `staff:${actor.login}`);

/** Whether the acting administrator, read again in the transaction, is still one; a tool always is. */
async function stillAdministrator(staff: StaffStore, actor: StaffActor, db: PoolClient): Promise<boolean> {
  if ('tool' in actor) return true;
  const acting = await staff.byId(actor.id, db);
  return acting !== undefined && acting.disabledAt === null && acting.role === 'admin';
}

/** What a change to one account did, for its audit entries and its alarm. */
interface AccountChanged {
  account: StaffAccount;
  entries: AuditEntry[];
  /** False for the first administrator's setup: there is nobody else to tell. */
  alarms: boolean;
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
      alarms: Pick<AlarmStore, 'raiseCentral'>;
      /** Publishes alarms to the live clients, once their transaction has committed. */
      alarmsChanged?: (alarms: AlarmView[]) => void;
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
      return await this.create({ ...input, role: 'admin' }, { tool: 'setup' }, { setup: true });
    } catch (error) {
      await this.deps.pool.query('UPDATE setup_tokens SET used_at = NULL WHERE token_hash = $1', [
        sha256(token),
      ]);
      throw error;
    }
  }

  /** `alongWith`: more of the same change (the new account's enrolment link). */
  createAccount(
    input: NewAccount & { role: Role },
    createdBy: StaffActor,
    alongWith?: AlongWith,
  ): Promise<StaffAccount> {
    return this.create(input, createdBy, { alongWith });
  }

  private async create(
    input: NewAccount & { role: Role },
    creator: StaffActor,
    options: { alongWith?: AlongWith; setup?: boolean },
  ): Promise<StaffAccount> {
    const login = await this.checkNewAccount(input);
    const passwordHash = await hashPassword(input.password);
    const createdBy = actorName(creator);
    return this.changeAccount(async (db) => {
      // In the administrators' turn, like every other staff change, with the acting administrator
      // as they are now: one disabled or demoted while this request waited creates nothing.
      await db.query(`SELECT pg_advisory_xact_lock(hashtext('identgate/staff-administration'))`);
      if (!(await stillAdministrator(this.deps.staff, creator, db))) throw new AuthErrors.forbidden();
      // The first administrator's setup tells nobody, as there is nobody yet. A setup that
      // replaces lost administrators while other accounts exist is told like any other creation.
      const first = options.setup === true && !(await this.deps.staff.anyExists(db));
      const account = await this.deps.staff.create(
        {
          login,
          displayName: input.displayName.trim().slice(0, 120),
          role: input.role,
          passwordHash,
          createdBy,
        },
        db,
      );
      const entries: AuditEntry[] = [
        {
          actor: createdBy,
          action: 'staff.created',
          target: `staff:${login}`,
          details: { role: input.role },
        },
        ...((await options.alongWith?.(db, account)) ?? []),
      ];
      return { account, entries, alarms: !first };
    });
  }

  /**
   * An administrator changes another account: role, enabled, a forgotten authenticator (the owner
   * enrols anew at the next sign-in) or a new password. The account's sessions end with any of
   * these; the last enabled administrator cannot be demoted or disabled.
   */
  async administer(
    actor: StaffActor,
    login: string,
    change: AccountChange,
    alongWith?: AlongWith,
  ): Promise<StaffAccount> {
    const target = await this.deps.staff.byLogin(login);
    if (!target) throw new AuthErrors.notFound(`no staff account "${login}"`);
    if (
      !('tool' in actor) &&
      target.id === actor.id &&
      (change.role !== undefined || change.disabled !== undefined)
    ) {
      throw new AuthErrors.conflict('another administrator must change your own role or disable you');
    }
    if (change.password !== undefined) assertPassword(change.password, target.login, target.displayName);
    // Hashed before the transaction: it takes a quarter of a second and needs no lock.
    const passwordHash = change.password === undefined ? undefined : await hashPassword(change.password);
    const who = actorName(actor);
    const what = `staff:${target.login}`;
    return this.changeAccount(async (db) => {
      // One administrator's change at a time: two administrators disabling each other at the
      // same moment must not both see the other as the spare and leave none.
      await db.query(`SELECT pg_advisory_xact_lock(hashtext('identgate/staff-administration'))`);
      const current = await this.deps.staff.byId(target.id, db);
      if (!current) throw new AuthErrors.notFound(`no staff account "${login}"`);
      // The acting administrator as they are now: one disabled or demoted while this request
      // waited for the lock changes nothing more.
      if (!(await stillAdministrator(this.deps.staff, actor, db))) throw new AuthErrors.forbidden();
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
      const promoted =
        (change.role !== undefined && change.role !== current.role) ||
        (change.disabled === false && current.disabledAt !== null);
      if (promoted) {
        // A link issued while the account was an auditor's (or disabled) would hand the promoted
        // account to whoever holds it: ended, and named in the alarm.
        const ended = await db.query('DELETE FROM staff_invitations WHERE staff_id = $1', [current.id]);
        if ((ended.rowCount ?? 0) > 0)
          entries.push({ actor: who, action: 'staff.invitation-ended', target: what });
      }
      entries.push(...((await alongWith?.(db, current)) ?? []));
      const account = (await this.deps.staff.byId(current.id, db)) as StaffAccount;
      return { account, entries, alarms: true };
    });
  }

  /**
   * A change to one account with its audit entries and, where it could put a privileged account
   * in other hands, the alarm for security staff: committed together or not at all. The alarm is
   * published once committed.
   */
  private async changeAccount(work: (db: PoolClient) => Promise<AccountChanged>): Promise<StaffAccount> {
    const raised: AlarmView[] = [];
    const { account } = await auditedChange(
      this.deps.pool,
      work,
      (changed) => changed.entries,
      async (db, changed, ids) => {
        if (!changed.alarms) return;
        const written = changed.entries.map((entry, i) => ({ entry, id: ids[i] as number }));
        const alarm = privilegeAlarm(changed.account, written);
        if (alarm && (await this.someoneToTell(db, changed.account.id)))
          raised.push(...(await this.raise(alarm, db)));
      },
    );
    if (raised.length > 0) this.deps.alarmsChanged?.(raised);
    return account;
  }

  /**
   * Whether security staff other than the account itself exist to see the alarm and confirm it.
   * The first security account has nobody to tell (its change is audited like every other); an
   * alarm only it could see would stay open for good, as an account may not confirm its own.
   * Disabled accounts count: disabling every other security account first (which raises nothing)
   * must not make a taken account's change pass unannounced.
   */
  private async someoneToTell(db: PoolClient, accountId: string): Promise<boolean> {
    const { rows } = await db.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM staff_accounts WHERE role = 'security' AND id <> $1) AS any`,
      [accountId],
    );
    return rows[0]?.any === true;
  }

  private async raise(alarm: CentralAlarm, db: PoolClient): Promise<AlarmView[]> {
    try {
      return await this.deps.alarms.raiseCentral(alarm, db);
    } catch (error) {
      throw new AuthErrors.alarmUnavailable(alarm.alarm, { cause: error });
    }
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
