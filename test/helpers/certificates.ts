import { createPrivateKey } from 'node:crypto';
import { type CryptoKeyPair, subtle, x509 } from '../../src/pki/x509.js';

export type KeyKind = 'P-256' | 'P-384' | 'P-521' | 'RSA-2048' | 'RSA-3072';

function algorithmOf(kind: KeyKind) {
  if (kind.startsWith('RSA')) {
    return {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: Number(kind.slice(4)),
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    };
  }
  return { name: 'ECDSA', namedCurve: kind, hash: kind === 'P-256' ? 'SHA-256' : 'SHA-384' };
}

/** A self-signed certificate and its key (PEM) of the given kind, valid around `now`. */
export async function selfSigned(
  kind: KeyKind,
  options: { cn?: string; validFrom?: number; validTo?: number } = {},
): Promise<{ cert: string; key: string }> {
  const alg = algorithmOf(kind);
  const keys = (await subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${options.cn ?? 'test'}`,
    notBefore: new Date(options.validFrom ?? now - 60_000),
    notAfter: new Date(options.validTo ?? now + 86_400_000),
    keys,
    signingAlgorithm: alg,
  });
  const key = createPrivateKey({
    key: Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return { cert: cert.toString('pem'), key };
}
