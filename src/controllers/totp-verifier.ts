import { NodeCryptoPlugin } from '@otplib/plugin-crypto-node';
import { generateSync, verifySync } from 'otplib';

/**
 * RFC 6238 TOTP checks for door entry. A code is accepted at most once per person: the time step
 * it matched is remembered, and any code for that step or an earlier one is refused as reused.
 * Optionally a duress variant of the code (the last digit plus one, modulo 10) is recognised: it
 * opens like the real code and is reported as duress.
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

export type DuressVariant = 'last-digit-plus-one';

export type TotpResult =
  | { ok: true; timeStep: number; drift: number; duress: boolean }
  | { ok: false; reason: 'wrong-code' | 'code-reused' };

/** Where the last used time step per person is kept (memory, or a file that survives restarts). */
export interface TotpUsageStore {
  lastStep(person: string): number | undefined;
  use(person: string, step: number): void;
  /** Steps at or below this are refused for everyone (after an unclean restart). */
  readonly floorStep: number;
  /**
   * Drops the last step of each person `keep` refuses: one too old to refuse any code still
   * accepted, or a person no longer known. What it drops is personal data that no longer serves.
   */
  forget?(keep: (person: string, step: number) => boolean): void;
}

export class MemoryTotpUsage implements TotpUsageStore {
  private readonly steps = new Map<string, number>();
  floorStep = 0;

  lastStep(person: string): number | undefined {
    return this.steps.get(person);
  }

  use(person: string, step: number): void {
    this.steps.set(person, step);
  }

  forget(keep: (person: string, step: number) => boolean): void {
    for (const [person, step] of this.steps) if (!keep(person, step)) this.steps.delete(person);
  }
}

const crypto = new NodeCryptoPlugin();

export class TotpVerifier {
  constructor(
    private readonly settings: TotpSettings = defaultTotpSettings,
    private readonly usage: TotpUsageStore = new MemoryTotpUsage(),
    private readonly duress?: DuressVariant,
  ) {}

  /** Checks `code` for `person` at `nowMs`; a success consumes the time step it matched. */
  verify(person: string, secret: string, code: string, nowMs: number): TotpResult {
    if (!/^\d+$/.test(code) || code.length !== this.settings.digits)
      return { ok: false, reason: 'wrong-code' };
    const epoch = Math.floor(nowMs / 1000);
    const match = this.match(secret, code, epoch);
    if (!match) return { ok: false, reason: 'wrong-code' };
    const timeStep = Math.floor(epoch / this.settings.periodSeconds) + match.drift;
    const last = this.usage.lastStep(person);
    if (timeStep <= this.usage.floorStep || (last !== undefined && timeStep <= last)) {
      return { ok: false, reason: 'code-reused' };
    }
    this.usage.use(person, timeStep);
    return { ok: true, timeStep, drift: match.drift, duress: match.duress };
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

  /** The time step that `nowMs` falls in. */
  stepAt(nowMs: number): number {
    return Math.floor(nowMs / 1000 / this.settings.periodSeconds);
  }

  private match(secret: string, code: string, epoch: number): { drift: number; duress: boolean } | undefined {
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
    if (result.valid) return { drift: result.delta, duress: false };
    if (!this.duress) return undefined;
    // The real code wins wherever the two could coincide; only then is the duress variant tried.
    for (let drift = -this.settings.driftSteps; drift <= this.settings.driftSteps; drift++) {
      const real = this.generate(secret, (epoch + drift * this.settings.periodSeconds) * 1000);
      if (code === duressVariant(real)) return { drift, duress: true };
    }
    return undefined;
  }
}

/** The code with its last digit increased by one, modulo 10. */
export function duressVariant(code: string): string {
  const last = Number(code.at(-1));
  return `${code.slice(0, -1)}${(last + 1) % 10}`;
}
