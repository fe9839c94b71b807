import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { generateSync, verifySync } from 'otplib';

/**
 * RFC 6238 TOTP checks for door entry. A code is accepted at most once per person: the time step
 * it matched is remembered, and any code for that step or an earlier one is refused as reused.
 */
export interface TotpSettings {
  digits: 6 | 8;
  periodSeconds: number;
  algorithm: 'sha1' | 'sha256' | 'sha512';
  /** Accepted clock drift in whole time steps, before and after now. */
  driftSteps: number;
}

export const defaultTotpSettings: TotpSettings = {
  digits: 6,
  periodSeconds: 30,
  algorithm: 'sha1',
  driftSteps: 1,
};

export type TotpResult =
  | { ok: true; timeStep: number; drift: number }
  | { ok: false; reason: 'wrong-code' | 'code-reused' };

const crypto = new NodeCryptoPlugin();

export class TotpVerifier {
  private readonly lastStep = new Map<string, number>();

  constructor(private readonly settings: TotpSettings = defaultTotpSettings) {}

  /** Checks `code` for `person` at `nowMs`; a success consumes the time step it matched. */
  verify(person: string, secret: string, code: string, nowMs: number): TotpResult {
    if (!/^\d+$/.test(code) || code.length !== this.settings.digits)
      return { ok: false, reason: 'wrong-code' };
    const epoch = Math.floor(nowMs / 1000);
    const result = verifySync({
      secret,
      token: code,
      crypto,
      algorithm: this.settings.algorithm,
      digits: this.settings.digits,
      period: this.settings.periodSeconds,
      epoch,
      epochTolerance: this.settings.driftSteps * this.settings.periodSeconds,
    });
    if (!result.valid) return { ok: false, reason: 'wrong-code' };
    const timeStep = Math.floor(epoch / this.settings.periodSeconds) + result.delta;
    const last = this.lastStep.get(person);
    if (last !== undefined && timeStep <= last) return { ok: false, reason: 'code-reused' };
    this.lastStep.set(person, timeStep);
    return { ok: true, timeStep, drift: result.delta };
  }

  /** The code an authenticator shows at `nowMs`; for tests and the demo. */
  generate(secret: string, nowMs: number): string {
    return generateSync({
      secret,
      crypto,
      algorithm: this.settings.algorithm,
      digits: this.settings.digits,
      period: this.settings.periodSeconds,
      epoch: Math.floor(nowMs / 1000),
    });
  }
}
