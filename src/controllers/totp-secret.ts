import { randomBytes } from 'node:crypto';
import { base32Encode } from '../lib/base32.js';

/** TOTP secrets have at least 160 bits (RFC 4226 §4 recommends 160). */
export const TOTP_SECRET_BYTES = 20;

export function generateTotpSecret(bytes = TOTP_SECRET_BYTES): string {
  if (bytes < TOTP_SECRET_BYTES)
    throw new Error(`a TOTP secret needs at least ${TOTP_SECRET_BYTES * 8} bits`);
  return base32Encode(randomBytes(bytes));
}

export interface OtpauthParams {
  issuer: string;
  account: string;
  secret: string;
  algorithm: 'sha1' | 'sha256' | 'sha512';
  digits: number;
  periodSeconds: number;
}

/** The `otpauth://` URI authenticator apps read (as text or as a QR code). */
export function otpauthUri(p: OtpauthParams): string {
  const label = `${encodeURIComponent(p.issuer)}:${encodeURIComponent(p.account)}`;
  const query = new URLSearchParams({
    secret: p.secret,
    issuer: p.issuer,
    algorithm: p.algorithm.toUpperCase(),
    digits: String(p.digits),
    period: String(p.periodSeconds),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
