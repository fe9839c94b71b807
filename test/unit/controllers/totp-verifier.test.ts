import { describe, expect, it } from 'vitest';
import { generateTotpSecret, otpauthUri } from '../../../src/controllers/totp-secret.js';
import { TotpVerifier } from '../../../src/controllers/totp-verifier.js';

// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890", 8 digits.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const rfc = new TotpVerifier({ digits: 8, periodSeconds: 30, algorithm: 'sha1', driftSteps: 0 });

describe('TOTP verifier', () => {
  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
  ])('matches the RFC 6238 test vector at T=%i', (seconds, code) => {
    expect(rfc.generate(RFC_SECRET, seconds * 1000)).toBe(code);
    expect(
      new TotpVerifier({ digits: 8, periodSeconds: 30, algorithm: 'sha1', driftSteps: 0 }).verify(
        'p',
        RFC_SECRET,
        code,
        seconds * 1000,
      ),
    ).toMatchObject({ ok: true });
  });

  it('accepts a code one step early or late and refuses two steps away', () => {
    const verifier = new TotpVerifier();
    const secret = generateTotpSecret();
    const now = Date.UTC(2026, 0, 1, 12, 0, 15);
    expect(verifier.verify('a', secret, verifier.generate(secret, now - 30_000), now)).toMatchObject({
      ok: true,
      drift: -1,
    });
    expect(verifier.verify('b', secret, verifier.generate(secret, now + 30_000), now)).toMatchObject({
      ok: true,
      drift: 1,
    });
    expect(verifier.verify('c', secret, verifier.generate(secret, now - 60_000), now)).toEqual({
      ok: false,
      reason: 'wrong-code',
    });
    expect(verifier.verify('d', secret, verifier.generate(secret, now + 60_000), now)).toEqual({
      ok: false,
      reason: 'wrong-code',
    });
  });

  it('never accepts a time step twice for the same person', () => {
    const verifier = new TotpVerifier();
    const secret = generateTotpSecret();
    const now = Date.UTC(2026, 0, 1, 12, 0, 5);
    const code = verifier.generate(secret, now);
    expect(verifier.verify('p', secret, code, now)).toMatchObject({ ok: true });
    expect(verifier.verify('p', secret, code, now + 10_000)).toEqual({ ok: false, reason: 'code-reused' });
    // The previous step's code is older than the one used: also refused.
    expect(verifier.verify('p', secret, verifier.generate(secret, now - 30_000), now)).toEqual({
      ok: false,
      reason: 'code-reused',
    });
    // The next step is fine.
    expect(verifier.verify('p', secret, verifier.generate(secret, now + 30_000), now + 30_000)).toMatchObject(
      { ok: true },
    );
  });

  it('refuses codes of the wrong length or with non-digits', () => {
    const verifier = new TotpVerifier();
    const secret = generateTotpSecret();
    for (const code of ['', '12345', '1234567', '12a456', ' 123456']) {
      expect(verifier.verify('p', secret, code, Date.now())).toEqual({ ok: false, reason: 'wrong-code' });
    }
  });

  it('generates secrets of at least 160 bits and refuses shorter ones', () => {
    expect(generateTotpSecret()).toMatch(/^[A-Z2-7]{32}$/);
    expect(() => generateTotpSecret(10)).toThrow(/160 bits/);
  });

  it('writes an otpauth URI that authenticator apps read', () => {
    const uri = otpauthUri({
      issuer: 'identgate',
      account: 'Ada Agent',
      secret: RFC_SECRET,
      algorithm: 'sha1',
      digits: 6,
      periodSeconds: 30,
    });
    expect(uri).toBe(
      `otpauth://totp/identgate:Ada%20Agent?secret=${RFC_SECRET}&issuer=identgate&algorithm=SHA1&digits=6&period=30`,
    );
  });
});
