import { timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import type { StaffConfig } from '../../config/dashboard-config.js';
import type { Clock } from '../../lib/clock.js';
import type { KeyRing } from '../../lib/key-ring.js';
import type { AuditLog } from '../audit/audit-log.js';
import { auditedChange } from '../audit/audited-change.js';
import type { AlarmView } from '../http/schemas.js';
import type { AlarmStore } from '../storage/alarm-store.js';
import { AuthErrors } from './auth-errors.js';
import { LoginThrottle, type Reservation } from './login-throttle.js';
import { DUMMY_HASH, hashPassword, needsRehash, verifyPassword } from './password-hasher.js';
import { type Session, SessionStore } from './session-store.js';
import {
  type AccountChange,
  type AlongWith,
  assertPassword,
  type NewAccount,
  type StaffActor,
  StaffAdministration,
} from './staff-administration.js';
import type { Role, StaffAccount, StaffStore } from './staff-store.js';
import { StaffTotp, type TotpEnrolment } from './staff-totp.js';

/** Why a session that has shown only the password may not enrol: the account has an authenticator. */
const HAS_AUTHENTICATOR =
  'this account has an authenticator: sign in again with a code from it, or ask an administrator to reset it';

/**
 * Staff authentication: personal accounts, password + mandatory TOTP, server-side sessions with
 * idle and absolute timeouts, re-authentication before sensitive actions. Every outcome is
 * written to the audit log. Making and changing accounts (the first administrator's setup token
 * included) is StaffAdministration's, which this service fronts; sealing and checking TOTP
 * secrets is StaffTotp's.
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

export class AuthService {
  private readonly administration: StaffAdministration;
  private readonly totp: StaffTotp;

  constructor(
    private readonly deps: {
      pool: Pool;
      staff: StaffStore;
      sessions: SessionStore;
      throttle: LoginThrottle;
      audit: AuditLog;
      /** Where a change that could put a privileged account in other hands raises its alarm. */
      alarms: Pick<AlarmStore, 'raiseCentral'>;
      /** Publishes those alarms to the live clients, once committed. */
      alarmsChanged?: (alarms: AlarmView[]) => void;
      /** The central master keys; staff TOTP secrets are sealed under them. */
      keys: KeyRing | undefined;
      clock: Clock;
      settings?: Partial<AuthSettings>;
    },
  ) {
    this.administration = new StaffAdministration(deps);
    this.totp = new StaffTotp(deps);
  }

  /** The service as a dashboard runs it: sessions and the login throttle in `pool`, `staff.*` settings. */
  static overDatabase(deps: {
    pool: Pool;
    staff: StaffStore;
    audit: AuditLog;
    alarms: Pick<AlarmStore, 'raiseCentral'>;
    alarmsChanged?: (alarms: AlarmView[]) => void;
    keys: KeyRing | undefined;
    clock: Clock;
    config: StaffConfig;
  }): AuthService {
    const { config, ...rest } = deps;
    return new AuthService({
      ...rest,
      sessions: new SessionStore(deps.pool),
      throttle: new LoginThrottle(deps.pool),
      settings: {
        idleMs: config.idleMinutes * 60_000,
        absoluteMs: config.absoluteHours * 3_600_000,
        reauthMs: config.reauthMinutes * 60_000,
        issuer: config.issuer,
      },
    });
  }

  get settings(): AuthSettings {
    return { ...DEFAULT_AUTH_SETTINGS, ...this.deps.settings };
  }

  /** While no administrator exists, a fresh one-time token (valid 24 h) to create the first one. */
  setupToken(): Promise<string | undefined> {
    return this.administration.setupToken();
  }

  setup(token: string, input: NewAccount): Promise<StaffAccount> {
    return this.administration.setup(token, input);
  }

  /**
   * A new account, by an administrator or a tool on the central host. One with role `security` or
   * `admin` raises a `staff-privilege-granted` alarm; `alongWith`: more of the same change.
   */
  createAccount(
    input: NewAccount & { role: Role },
    createdBy: StaffActor,
    alongWith?: AlongWith,
  ): Promise<StaffAccount> {
    return this.administration.createAccount(input, createdBy, alongWith);
  }

  /** Step one: the password. Opens a session that still needs the second factor. */
  async login(
    login: string,
    password: string,
    meta: RequestMeta,
  ): Promise<{ token: string; session: Session; account: StaffAccount }> {
    const normalised = login.trim().toLowerCase();
    const verdict = await this.deps.throttle.reserve(normalised, meta.address);
    // `busy` (a flood beyond what the throttle lets wait) costs the database nothing, not even an entry.
    if (!verdict.allowed && verdict.scope !== 'busy') {
      const known = await this.deps.staff.byLogin(normalised);
      await this.deps.audit.record({
        actor: `anonymous`,
        action: 'staff.login-throttled',
        ...aboutAttempt(known, meta, { scope: verdict.scope }),
      });
    }
    if (!verdict.allowed) throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    const account = await this.deps.staff.byLogin(normalised);
    const ok = await verifyPassword(account?.passwordHash ?? DUMMY_HASH, password);
    if (!account || !ok || account.disabledAt) {
      await this.deps.audit.record({
        actor: 'anonymous',
        action: 'staff.login-failed',
        ...aboutAttempt(account, meta, {
          reason: !account ? 'unknown login' : account.disabledAt ? 'disabled' : 'wrong password',
        }),
      });
      throw new AuthErrors.badCredentials();
    }
    await this.deps.throttle.release(verdict);
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
    const attempt = await this.attempt(account, meta);
    if (!(await this.totp.check(account, code))) {
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.login-failed',
        details: { address: meta.address, reason: 'wrong code' },
      });
      throw new AuthErrors.badCode();
    }
    await this.deps.throttle.release(attempt);
    await this.deps.throttle.succeed(account.login, meta.address);
    // The session is the caller's already: it turns active only with its entry written.
    await auditedChange(
      this.deps.pool,
      async (db) => {
        // Ended meanwhile (the account disabled): nothing to sign in, nothing to audit.
        if (!(await this.deps.sessions.setStage(token, 'active', db))) throw new AuthErrors.unauthenticated();
      },
      () => ({ actor: `staff:${account.login}`, action: 'staff.login', details: { address: meta.address } }),
    );
    return { account, session: { ...current.session, stage: 'active' } };
  }

  /**
   * Creates (or replaces) the pending TOTP secret and returns what the authenticator app needs.
   * A session that has shown only the password (stage enrol) may enrol the account's first
   * authenticator, never replace one; replacing it needs a full session, freshly re-authenticated.
   */
  async startEnrolment(token: string): Promise<TotpEnrolment> {
    const current = await this.current(token);
    if (!current) throw new AuthErrors.unauthenticated();
    const { account, session } = current;
    const firstOnly = this.enrolmentRule(session);
    const enrolment =
      firstOnly && account.totpSecretSealed
        ? undefined
        : await this.totp.startEnrolment(account, this.settings.issuer, firstOnly);
    if (!enrolment) {
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.totp-enrolment-refused',
        details: { reason: 'authenticator exists' },
      });
      throw new AuthErrors.stage(HAS_AUTHENTICATOR);
    }
    await this.deps.audit.record({ actor: `staff:${account.login}`, action: 'staff.totp-enrolment-started' });
    return enrolment;
  }

  /**
   * The code from the new authenticator makes it the account's, ends the account's other
   * sessions (they were opened with the old one, or with only the password) and makes this
   * session a full one. Whether a first enrolment is still a first one is decided in the same
   * statement that writes the secret, so a second password-only session racing the owner's
   * enrolment cannot replace it.
   */
  async confirmEnrolment(token: string, code: string, meta: RequestMeta): Promise<Authenticated> {
    const current = await this.current(token);
    if (!current) throw new AuthErrors.unauthenticated();
    const { account, session } = current;
    // A session that has only the password (stage totp) cannot replace the second factor.
    if (session.stage === 'totp') throw new AuthErrors.stage('enter your code first');
    const firstOnly = this.enrolmentRule(session);
    const pending = account.totpPendingSealed;
    if (!pending) throw new AuthErrors.stage('start the enrolment first');
    const attempt = await this.attempt(account, meta);
    const result = this.totp.verifyPending(account.id, pending, code);
    if (!result.ok) throw new AuthErrors.badCode();
    await this.deps.throttle.release(attempt);
    const ended = await auditedChange(
      this.deps.pool,
      async (db) => {
        if (!(await this.deps.staff.confirmTotp(account.id, pending, result.timeStep, firstOnly, db)))
          return undefined;
        if (!(await this.deps.sessions.setStage(token, 'active', db))) throw new AuthErrors.unauthenticated();
        return this.deps.sessions.revokeAll(account.id, token, db);
      },
      (ended) =>
        ended === undefined
          ? []
          : {
              actor: `staff:${account.login}`,
              action: 'staff.totp-enrolled',
              details: { address: meta.address, otherSessionsEnded: ended },
            },
    );
    if (ended === undefined) {
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.totp-enrolment-refused',
        details: {
          address: meta.address,
          reason: firstOnly ? 'authenticator exists or enrolment restarted' : 'enrolment restarted',
        },
      });
      throw new AuthErrors.stage(
        firstOnly ? HAS_AUTHENTICATOR : 'the enrolment was started anew; scan the new code',
      );
    }
    return { account: { ...account, totpPendingSealed: null }, session: { ...session, stage: 'active' } };
  }

  /** Password and code again, before a sensitive action. */
  async reauthenticate(token: string, password: string, code: string, meta: RequestMeta): Promise<void> {
    const current = await this.current(token);
    if (current?.session.stage !== 'active') throw new AuthErrors.unauthenticated();
    const { account } = current;
    const attempt = await this.attempt(account, meta);
    const passwordOk = await verifyPassword(account.passwordHash, password);
    const codeOk = passwordOk && (await this.totp.check(account, code));
    if (!passwordOk || !codeOk) {
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.reauth-failed',
        details: { address: meta.address },
      });
      throw passwordOk ? new AuthErrors.badCode() : new AuthErrors.badCredentials();
    }
    await this.deps.throttle.release(attempt);
    await auditedChange(
      this.deps.pool,
      async (db) => {
        if (!(await this.deps.sessions.markReauthenticated(token, db)))
          throw new AuthErrors.unauthenticated();
      },
      () => ({
        actor: `staff:${account.login}`,
        action: 'staff.reauthenticated',
        details: { address: meta.address },
      }),
    );
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
    // The current password is guessed here as at the sign-in: counted and limited the same way.
    const attempt = await this.attempt(account, meta);
    if (!(await verifyPassword(account.passwordHash, currentPassword))) {
      await this.deps.audit.record({
        actor: `staff:${account.login}`,
        action: 'staff.password-change-failed',
        details: { address: meta.address, reason: 'wrong password' },
      });
      throw new AuthErrors.badCredentials();
    }
    await this.deps.throttle.release(attempt);
    assertPassword(next, account.login, account.displayName);
    const passwordHash = await hashPassword(next);
    await auditedChange(
      this.deps.pool,
      async (db) => {
        await this.deps.staff.setPassword(account.id, passwordHash, db);
        return this.deps.sessions.revokeAll(account.id, token, db);
      },
      (ended) => ({
        actor: `staff:${account.login}`,
        action: 'staff.password-changed',
        details: { otherSessionsEnded: ended },
      }),
    );
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
   * these; the last enabled administrator cannot be demoted or disabled. A change that could put
   * a `security` or `admin` account in other hands raises a `staff-privilege-granted` alarm.
   */
  administer(
    actor: StaffActor,
    login: string,
    change: AccountChange,
    alongWith?: AlongWith,
  ): Promise<StaffAccount> {
    return this.administration.administer(actor, login, change, alongWith);
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

  /**
   * Counts a guess of this account's password or code before it is checked (see LoginThrottle);
   * 429 when the account or address has had its guesses. Released by the caller on success.
   */
  private async attempt(account: StaffAccount, meta: RequestMeta): Promise<Reservation> {
    const verdict = await this.deps.throttle.reserve(account.login, meta.address);
    if (!verdict.allowed) throw new AuthErrors.throttled(String(verdict.retryAfterSeconds));
    return verdict;
  }

  /**
   * Whether a session may enrol only a first authenticator (true: stage enrol) or may replace the
   * account's (false: a full session, freshly re-authenticated); 403 for any other session.
   */
  private enrolmentRule(session: Session): boolean {
    if (session.stage === 'enrol') return true;
    if (session.stage === 'active' && this.isFresh(session)) return false;
    throw new AuthErrors.reauth();
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
}

/**
 * What the audit log (kept without end) keeps of a failed or throttled sign-in: the account and
 * the client's address when the login is an account's, else neither. A login that is nobody's
 * may be a password typed into the login field, and an address that tried no account is evidence
 * about no account; both stay only in login_failures (the throttle's keys), for a day.
 */
function aboutAttempt(
  account: StaffAccount | undefined,
  meta: RequestMeta,
  details: Record<string, unknown>,
): { target?: string; details: Record<string, unknown> } {
  return account
    ? { target: `staff:${account.login}`, details: { address: meta.address, ...details } }
    : { details };
}
