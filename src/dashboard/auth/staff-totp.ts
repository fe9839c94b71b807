import QRCode from 'qrcode';
import { generateTotpSecret, otpauthUri } from '../../controllers/totp-secret.js';
import { MemoryTotpUsage, type TotpResult, TotpVerifier } from '../../controllers/totp-verifier.js';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { KeyRing } from '../../lib/key-ring.js';
import type { StaffAccount, StaffStore } from './staff-store.js';

/**
 * Staff second factors: the TOTP secret sealed under the central master keys, what an
 * authenticator app needs to enrol, and checking a code so that none is accepted twice. When and
 * by whom these are used (sign-in stages, throttling, audit) is AuthService's story.
 */

/** The associated data a staff TOTP secret is sealed with, followed by `/<account id>`. */
export const STAFF_TOTP_CONTEXT = 'identgate/staff-totp/v1';

export interface TotpEnrolment {
  otpauthUri: string;
  secret: string;
  qrSvg: string;
}

export class StaffTotp {
  /** Checks enrolment codes: a pending secret has no last used time step in the store yet. */
  private readonly enrolment = new TotpVerifier();

  constructor(
    private readonly deps: {
      staff: StaffStore;
      /** The central master keys; staff TOTP secrets are sealed under them. */
      keys: KeyRing | undefined;
      clock: Clock;
    },
  ) {}

  /**
   * Creates (or replaces) the account's pending secret and returns what the authenticator app
   * needs; undefined when `firstOnly` and the account has a confirmed secret already.
   */
  async startEnrolment(
    account: StaffAccount,
    issuer: string,
    firstOnly: boolean,
  ): Promise<TotpEnrolment | undefined> {
    const secret = generateTotpSecret();
    const sealed = this.ring().seal(Buffer.from(secret), `${STAFF_TOTP_CONTEXT}/${account.id}`);
    if (!(await this.deps.staff.setPendingTotp(account.id, sealed, firstOnly))) return undefined;
    const uri = otpauthUri({
      issuer,
      account: account.login,
      secret,
      algorithm: 'sha1',
      digits: 6,
      periodSeconds: 30,
    });
    const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { otpauthUri: uri, secret, qrSvg };
  }

  /** A code from the authenticator app against the pending secret it was enrolled with. */
  verifyPending(accountId: string, pendingSealed: string, code: string): TotpResult {
    const secret = this.ring().open(pendingSealed, `${STAFF_TOTP_CONTEXT}/${accountId}`).toString();
    return this.enrolment.verify(accountId, secret, code, this.deps.clock.now());
  }

  /** A sign-in code against the confirmed secret; its time step is used up when it matches. */
  async check(account: StaffAccount, code: string): Promise<boolean> {
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
}
