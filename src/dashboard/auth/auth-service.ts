import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import QRCode from 'qrcode';
import { generateTotpSecret, otpauthUri } from '../../controllers/totp-secret.js';
import { MemoryTotpUsage, TotpVerifier } from '../../controllers/totp-verifier.js';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { KeyRing } from '../../lib/key-ring.js';
import type { AuditLog } from '../audit/audit-log.js';
import { AuthErrors } from './auth-errors.js';
import type { LoginThrottle } from './login-throttle.js';
import { DUMMY_HASH, hashPassword, needsRehash, verifyPassword } from './password-hasher.js';
import { passwordProblems } from './password-policy.js';
import type { Session, SessionStore } from './session-store.js';
import type { Role, StaffAccount, StaffStore } from './staff-store.js';

/**
 * Staff authentication: personal accounts, password + mandatory TOTP, server-side sessions with
 * idle and absolute timeouts, re-authentication before sensitive actions, the one-time setup
 * token that creates the first administrator. Every outcome is written to the audit log.
 */
export interface AuthSettings {
  idleMs: number;
  absoluteMs: number;
  /** A re-authentication counts for sensitive actions this long. */
  reauthMs: number;
  issuer: string;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  idleMs: 30 * 60_000,
  absoluteMs: 12 * 3_600_000,
  reauthMs: 5 * 60_000,
  issuer: 'identgate',
};

export interface RequestMeta {
  address: string;
  userAgent?: string;
}

export interface Authenticated {
  account: StaffAccount;
  session: Session;
}

export const STAFF_TOTP_CONTEXT = 'identgate/staff-totp/v1';
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class AuthService {
  private readonly totp = new TotpVerifier();

  constructor(
    private readonly deps: {
      pool: Pool;
      staff: StaffStore;
      sessions: SessionStore;
      throttle: LoginThrottle;
      audit: AuditLog;
      /** The central master keys; staff TOTP secrets are sealed under them. */
      keys: KeyRing | undefined;
      clock: Clock;
      settings?: Partial<AuthSettings>;
    },
  ) {}

  get settings(): AuthSettings {
    return { ...DEFAULT_AUTH_SETTINGS, ...this.deps.settings };
  }

  /** While no administrator exists, a fresh one-time token (valid 24 h) to create the first one. */
  async setupToken(): Promise<string | undefined> {
    if ((await this.deps.staff.countAdmins()) > 0) return undefined;
    const token = randomBytes(16).toString('base64url');
    await this.deps.pool.query(
      `INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, now() + interval '24 hours')`,
      [sha256(token)],
    );
    await this.deps.audit.record({ actor: 'system', action: 'staff.setup-token-issued' });
    return token;
  }

  async setup(
    token: string,
    input: { login: string; displayName: string; password: string },
    meta: RequestMeta,
  ): Promise<StaffAccount> {
    // Input is checked before the token is spent: a weak password does not burn it.
    await this.checkNewAccount(input);
    const used = await this.deps.pool.query(
      `UPDATE setup_tokens SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
         AND NOT EXISTS (SELECT 1 FROM staff_accounts WHERE role = 'admin' AND disabled_at IS NULL)`,
      [sha256(token)],
    );
    if (used.rowCount !== 1) {
      await this.deps.audit.record({
        actor: 'anonymous',
        action: 'staff.setup-refused',
        details: { address: meta.address },
      });
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

  private async checkNewAccount(input: {
    login: string;
    displayName: string;
    password: string;
  }): Promise<string> {
    const login = input.login.trim().toLowerCase();
    if (!/^[a-z0-9][a-z0-9._-]{1,63}$/.test(login)) {
      throw new AuthErrors.badInput(
        'a login is 2-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    this.assertPassword(input.password, login, input.displayName);
    if (await this.deps.staff.byLogin(login)) throw new AuthErrors.conflict(`login "${login}" is taken`);
    return login;
  }

  async createAccount(
    input: { login: string; displayName: string; password: string; role: Role },
    createdBy: string,
  ): Promise<StaffAccount> {
    const login = await this.checkNewAccount(input);
    const account = await this.deps.staff.create({
      login,
      displayName: input.displayName.trim().slice(0, 120),
      role: input.role,
      passwordHash: await hashPassword(input.password),
      createdBy,
    });
    await this.deps.audit.record({
      actor: createdBy,
      action: 'staff.created',
      target: `staff:${login}`,
      details: { role: input.role },
    });
    return account;
  }

  /** Step one: the password. Opens a session that still needs the second factor. */
  async login(
    login: string,
    password: string,
    meta: RequestMeta,
  ): Promise<{ token: string; session: Session; account: StaffAccount }> {
    const normalised = login.trim().toLowerCase();
    const verdict = await this.deps.throttle.check(normalised, meta.address);
    if (!verdict.allowed) {
      await this.deps.audit.record({
        actor: `anonymous`,
        action: 'staff.login-throttled',
        target: `staff:${normalised}`,
        details: { address: meta.address, scope: verdict.scope },
      });
      throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    }
    const account = await this.deps.staff.byLogin(normalised);
    const ok = await verifyPassword(account?.passwordHash ?? DUMMY_HASH, password);
    if (!account || !ok || account.disabledAt) {
      await this.deps.throttle.fail(normalised, meta.address);
      await this.deps.audit.record({
        actor: 'anonymous',
        action: 'staff.login-failed',
        target: `staff:${normalised}`,
        details: {
          address: meta.address,
          reason: !account ? 'unknown login' : account.disabledAt ? 'disabled' : 'wrong password',
        },
      });
      throw new AuthErrors.badCredentials();
    }
    if (needsRehash(account.passwordHash))
      await this.deps.staff.setPassword(account.id, await hashPassword(password));
    const stage = account.totpSecretSealed ? 'totp' : 'enrol';
    const { token, session } = await this.deps.sessions.create(
      account.id,
      stage,
      this.settings.absoluteMs,
      meta,
    );
    await this.deps.audit.record({
      actor: `staff:${account.login}`,
      action: 'staff.password-accepted',
      details: { address: meta.address, next: stage },
    });
    return { token, session, account };
  }

  /** Step two: the TOTP code. */
  async secondFactor(token: string, code: string, meta: RequestMeta): Promise<Authenticated> {
    const current = await this.current(token);
    if (current?.session.stage !== 'totp') throw new AuthErrors.stage('no login is waiting for a code');
    const { account } = current;
    const verdict = await this.deps.throttle.check(account.login, meta.address);
    if (!verdict.allowed) throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    if (!(await this.checkCode(account, code))) {
      await this.deps.throttle.fail(account.login, meta.address);
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.login-failed',
        details: { address: meta.address, reason: 'wrong code' },
      });
      throw new AuthErrors.badCode();
    }
    await this.deps.throttle.succeed(account.login, meta.address);
    await this.deps.sessions.setStage(token, 'active');
    await this.deps.audit.record({
      actor: `staff:${account.login}`,
      action: 'staff.login',
      details: { address: meta.address },
    });
    return { account, session: { ...current.session, stage: 'active' } };
  }

  /** Creates (or replaces) the pending TOTP secret and returns what the authenticator app needs. */
  async startEnrolment(token: string): Promise<{ otpauthUri: string; secret: string; qrSvg: string }> {
    const current = await this.current(token);
    if (!current) throw new AuthErrors.unauthenticated();
    const { account, session } = current;
    const allowed = session.stage === 'enrol' || (session.stage === 'active' && this.isFresh(session));
    if (!allowed) throw new AuthErrors.reauth();
    const secret = generateTotpSecret();
    await this.deps.staff.setPendingTotp(
      account.id,
      this.ring().seal(Buffer.from(secret), `${STAFF_TOTP_CONTEXT}/${account.id}`),
    );
    const uri = otpauthUri({
      issuer: this.settings.issuer,
      account: account.login,
      secret,
      algorithm: 'sha1',
      digits: 6,
      periodSeconds: 30,
    });
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    await this.deps.audit.record({ actor: `staff:${account.login}`, action: 'staff.totp-enrolment-started' });
    return { otpauthUri: uri, secret, qrSvg };
  }

  async confirmEnrolment(token: string, code: string, meta: RequestMeta): Promise<Authenticated> {
    const current = await this.current(token);
    if (!current) throw new AuthErrors.unauthenticated();
    const { account, session } = current;
    // A session that has only the password (stage totp) cannot replace the second factor.
    if (session.stage === 'totp') throw new AuthErrors.stage('enter your code first');
    if (!account.totpPendingSealed) throw new AuthErrors.stage('start the enrolment first');
    const verdict = await this.deps.throttle.check(account.login, meta.address);
    if (!verdict.allowed) throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    const secret = this.ring()
      .open(account.totpPendingSealed, `${STAFF_TOTP_CONTEXT}/${account.id}`)
      .toString();
    const result = this.totp.verify(account.id, secret, code, this.deps.clock.now());
    if (!result.ok) {
      await this.deps.throttle.fail(account.login, meta.address);
      throw new AuthErrors.badCode();
    }
    await this.deps.staff.confirmTotp(account.id, result.timeStep);
    await this.deps.sessions.setStage(token, 'active');
    await this.deps.audit.record({
      actor: `staff:${account.login}`,
      action: 'staff.totp-enrolled',
      details: { address: meta.address },
    });
    return { account: { ...account, totpPendingSealed: null }, session: { ...session, stage: 'active' } };
  }

  /** Password and code again, before a sensitive action. */
  async reauthenticate(token: string, password: string, code: string, meta: RequestMeta): Promise<void> {
    const current = await this.current(token);
    if (current?.session.stage !== 'active') throw new AuthErrors.unauthenticated();
    const { account } = current;
    const verdict = await this.deps.throttle.check(account.login, meta.address);
    if (!verdict.allowed) throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    const passwordOk = await verifyPassword(account.passwordHash, password);
    const codeOk = passwordOk && (await this.checkCode(account, code));
    if (!passwordOk || !codeOk) {
      await this.deps.throttle.fail(account.login, meta.address);
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.reauth-failed',
        details: { address: meta.address },
      });
      throw passwordOk ? new AuthErrors.badCode() : new AuthErrors.badCredentials();
    }
    await this.deps.sessions.markReauthenticated(token);
    await this.deps.audit.record({
      actor: `staff:${account.login}`,
      action: 'staff.reauthenticated',
      details: { address: meta.address },
    });
  }

  async changePassword(
    token: string,
    currentPassword: string,
    next: string,
    meta: RequestMeta,
  ): Promise<void> {
    const current = await this.current(token);
    if (current?.session.stage !== 'active') throw new AuthErrors.unauthenticated();
    const { account } = current;
    if (!(await verifyPassword(account.passwordHash, currentPassword))) {
      await this.deps.throttle.fail(account.login, meta.address);
      throw new AuthErrors.badCredentials();
    }
    this.assertPassword(next, account.login, account.displayName);
    await this.deps.staff.setPassword(account.id, await hashPassword(next));
    const ended = await this.deps.sessions.revokeAll(account.id, token);
    await this.deps.audit.record({
      actor: `staff:${account.login}`,
      action: 'staff.password-changed',
      details: { otherSessionsEnded: ended },
    });
  }

  async logout(token: string): Promise<void> {
    const current = await this.current(token);
    await this.deps.sessions.revoke(token);
    if (current)
      await this.deps.audit.record({ actor: `staff:${current.account.login}`, action: 'staff.logout' });
  }

  /**
   * An administrator changes another account: role, enabled, a forgotten authenticator (the owner
   * enrols anew at the next sign-in) or a new password. The account's sessions end with any of
   * these; the last enabled administrator cannot be demoted or disabled.
   */
  async administer(
    actor: StaffAccount,
    login: string,
    change: { role?: Role; disabled?: boolean; resetTotp?: boolean; password?: string },
  ): Promise<StaffAccount> {
    const target = await this.deps.staff.byLogin(login);
    if (!target) throw new AuthErrors.notFound(`no staff account "${login}"`);
    if (target.id === actor.id && (change.role !== undefined || change.disabled !== undefined)) {
      throw new AuthErrors.conflict('another administrator must change your own role or disable you');
    }
    const demotes = change.role !== undefined && change.role !== 'admin' && target.role === 'admin';
    const disables = change.disabled === true && !target.disabledAt && target.role === 'admin';
    if ((demotes || disables) && (await this.deps.staff.countAdmins()) <= 1) {
      throw new AuthErrors.conflict('this is the last enabled administrator; make another one first');
    }
    const who = `staff:${actor.login}`;
    const what = `staff:${target.login}`;
    if (change.password !== undefined) {
      this.assertPassword(change.password, target.login, target.displayName);
      await this.deps.staff.setPassword(target.id, await hashPassword(change.password));
      await this.deps.audit.record({ actor: who, action: 'staff.password-reset', target: what });
    }
    if (change.role !== undefined && change.role !== target.role) {
      await this.deps.staff.setRole(target.id, change.role);
      await this.deps.audit.record({
        actor: who,
        action: 'staff.role-changed',
        target: what,
        details: { from: target.role, to: change.role },
      });
    }
    if (change.disabled !== undefined && change.disabled !== (target.disabledAt !== null)) {
      await this.deps.staff.setDisabled(target.id, change.disabled);
      await this.deps.audit.record({
        actor: who,
        action: change.disabled ? 'staff.disabled' : 'staff.enabled',
        target: what,
      });
    }
    if (change.resetTotp) {
      await this.deps.staff.resetTotp(target.id);
      await this.deps.audit.record({ actor: who, action: 'staff.totp-reset', target: what });
    }
    const ended = await this.deps.sessions.revokeAll(target.id);
    if (ended > 0)
      await this.deps.audit.record({
        actor: who,
        action: 'staff.sessions-ended',
        target: what,
        details: { sessions: ended },
      });
    return (await this.deps.staff.byId(target.id)) as StaffAccount;
  }

  /** Removes ended sessions and failures older than a day; the dashboard calls it periodically. */
  async housekeeping(): Promise<{ sessions: number }> {
    await this.deps.throttle.purge();
    await this.deps.pool.query(`DELETE FROM setup_tokens WHERE expires_at < now() - interval '7 days'`);
    return { sessions: await this.deps.sessions.purgeExpired(this.settings.idleMs) };
  }

  /** The session and account behind a cookie, if still valid and the account enabled. */
  async current(token: string | undefined): Promise<Authenticated | undefined> {
    if (!token || token.length > 100) return undefined;
    const session = await this.deps.sessions.find(token, this.settings.idleMs);
    if (!session) return undefined;
    const account = await this.deps.staff.byId(session.staffId);
    if (!account || account.disabledAt) {
      await this.deps.sessions.revoke(token);
      return undefined;
    }
    return { account, session };
  }

  isFresh(session: Session): boolean {
    return (
      session.reauthAt !== null &&
      this.deps.clock.now() - session.reauthAt.getTime() <= this.settings.reauthMs
    );
  }

  csrfMatches(session: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(session.csrfToken);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async checkCode(account: StaffAccount, code: string): Promise<boolean> {
    if (!account.totpSecretSealed) return false;
    const secret = this.ring()
      .open(account.totpSecretSealed, `${STAFF_TOTP_CONTEXT}/${account.id}`)
      .toString();
    const usage = new MemoryTotpUsage();
    usage.use(account.id, account.totpLastStep);
    const result = new TotpVerifier(undefined, usage).verify(account.id, secret, code, this.deps.clock.now());
    return result.ok && (await this.deps.staff.useTotpStep(account.id, result.timeStep));
  }

  private ring(): KeyRing {
    if (!this.deps.keys) {
      throw new CodedError(
        'IDG_NO_MASTER_KEY',
        'the dashboard has no keys.master: staff second factors cannot be stored (identgate keygen master)',
      );
    }
    return this.deps.keys;
  }

  private assertPassword(password: string, login: string, name: string): void {
    const problems = passwordProblems(password, { login, name });
    if (problems.length > 0) throw new AuthErrors.weakPassword(problems.join('; '));
  }
}
