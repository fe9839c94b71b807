import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions, SecureContextOptions, TlsOptions } from 'node:tls';
import { CodedError } from './coded-error.js';

/**
 * The one TLS profile of every listener and client identgate starts (HTTPS, MQTTS, the test
 * probes), following BSI TR-02102-2. Re-check it whenever the guideline is revised: the version
 * below is the one the lists were last compared against.
 */
export const TR_02102_2_VERSION = '2026-01';

export const TLS_PROFILE = {
  guideline: `BSI TR-02102-2, version ${TR_02102_2_VERSION}`,
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  /** TLS 1.3 suites (IANA = OpenSSL names); ChaCha20 and CCM_8 are not in TR-02102-2. */
  tls13Suites: ['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_AES_128_CCM_SHA256'],
  /** TLS 1.2 suites (OpenSSL names): ECDHE only (forward secrecy), AEAD only (no CBC, no SHA-1 MAC). */
  tls12Suites: [
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-CCM',
    'ECDHE-ECDSA-AES128-CCM',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES128-GCM-SHA256',
  ],
  /**
   * Key exchange groups (OpenSSL names; P-384 = secp384r1, P-256 = secp256r1). OpenSSL 3.0 offers
   * the brainpool curves for TLS 1.2 only (it has no brainpool…tls13 groups) and skips them in
   * TLS 1.3 by itself. No X25519/X448: TR-02102-2 does not list them.
   */
  groups: ['P-384', 'P-256', 'brainpoolP384r1', 'brainpoolP256r1'],
  /**
   * Handshake signatures: ECDSA with SHA-2 and RSA-PSS. PKCS#1 v1.5 signatures in the handshake
   * are left out (TLS 1.3 forbids them there anyway); certificates signed with PKCS#1 v1.5 by a
   * CA are still accepted, as that is the certificate's signature, not the handshake's.
   */
  sigalgs: [
    'ecdsa_secp384r1_sha384',
    'ecdsa_secp256r1_sha256',
    'ecdsa_secp521r1_sha512',
    'rsa_pss_rsae_sha384',
    'rsa_pss_rsae_sha256',
    'rsa_pss_rsae_sha512',
    'rsa_pss_pss_sha384',
    'rsa_pss_pss_sha256',
    'rsa_pss_pss_sha512',
  ],
  /** Certificate keys: ECDSA on these curves (Node's names), or RSA of at least this size. */
  certificateCurves: ['prime256v1', 'secp384r1'],
  minRsaBits: 3072,
} as const;

/** The profile as options that `tls.createSecureContext` understands (servers and clients). */
export function profileOptions(): Pick<
  SecureContextOptions,
  'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'sigalgs'
> {
  return {
    minVersion: TLS_PROFILE.minVersion,
    maxVersion: TLS_PROFILE.maxVersion,
    // Node takes TLS 1.3 suites and TLS 1.2 cipher names in one list.
    ciphers: [...TLS_PROFILE.tls13Suites, ...TLS_PROFILE.tls12Suites].join(':'),
    ecdhCurve: TLS_PROFILE.groups.join(':'),
    sigalgs: TLS_PROFILE.sigalgs.join(':'),
  };
}

/** PEM text of a certificate chain (leaf first) and its private key, plus optional trust anchors. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
}

/**
 * Options for `tls.createServer`, `https.createServer` and Fastify's `https`. The server's order
 * of suites and groups wins. Node does not implement TLS 1.3 early data, so 0-RTT is never on.
 */
export function tlsServerOptions(material: TlsMaterial): TlsOptions {
  return {
    ...profileOptions(),
    honorCipherOrder: true,
    cert: material.cert,
    key: material.key,
    ...(material.ca ? { ca: material.ca } : {}),
  };
}

/**
 * `tls.connect` options with PEM text for ca/cert/key: assignable both to `tls.ConnectionOptions`
 * and to MQTT.js's connect options (whose ca/cert/key types are narrower than Node's).
 */
export type TlsClientOptions = Pick<
  ConnectionOptions,
  'minVersion' | 'maxVersion' | 'ciphers' | 'ecdhCurve' | 'sigalgs' | 'rejectUnauthorized' | 'servername'
> & {
  ca?: string;
  cert?: string;
  key?: string;
};

/**
 * Options for `tls.connect` (and MQTT.js, which hands them on): the profile, the server verified
 * against `ca` (or the system's trust store without it), and a client certificate when given.
 */
export function tlsClientOptions(material: Partial<TlsMaterial> = {}): TlsClientOptions {
  return {
    ...profileOptions(),
    rejectUnauthorized: true,
    ...(material.ca ? { ca: material.ca } : {}),
    ...(material.cert ? { cert: material.cert } : {}),
    ...(material.key ? { key: material.key } : {}),
  };
}

export const TlsErrorCode = {
  required: 'IDG_TLS_REQUIRED',
  weakKey: 'IDG_TLS_WEAK_KEY',
  badCertificate: 'IDG_TLS_BAD_CERTIFICATE',
  keyMismatch: 'IDG_TLS_KEY_MISMATCH',
  expired: 'IDG_TLS_CERT_EXPIRED',
  config: 'IDG_TLS_CONFIG',
} as const;

/** Splits PEM text into its certificates, refusing text that holds none. */
export function parseCertificates(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0)
    throw new CodedError(TlsErrorCode.badCertificate, `${what}: no PEM certificate found`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new CodedError(
        TlsErrorCode.badCertificate,
        `${what}: certificate ${index + 1} cannot be parsed: ${(error as Error).message}`,
        { cause: error },
      );
    }
  });
}

/** Why a public or private key does not meet the profile, or undefined when it does. */
export function keyWeakness(key: KeyObject): string | undefined {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    return (TLS_PROFILE.certificateCurves as readonly string[]).includes(curve)
      ? undefined
      : `ECDSA on ${curve} (allowed: P-256, P-384)`;
  }
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const bits = details.modulusLength ?? 0;
    return bits >= TLS_PROFILE.minRsaBits ? undefined : `RSA with ${bits} bits (at least 3072 needed)`;
  }
  return `a ${key.asymmetricKeyType ?? 'unknown'} key (allowed: ECDSA P-256/P-384, RSA ≥ 3072)`;
}

/**
 * Checks certificates and key against the profile before anything listens or connects: every
 * certificate in the chain (and every trust anchor) has an ECDSA P-256/P-384 or RSA ≥ 3072 key,
 * the leaf is valid now, and the private key belongs to the leaf.
 */
export function assertAcceptableMaterial(
  material: Partial<TlsMaterial>,
  what: string,
  now: number = Date.now(),
): void {
  const chain = material.cert ? parseCertificates(material.cert, `${what}.cert`) : [];
  const anchors = material.ca ? parseCertificates(material.ca, `${what}.ca`) : [];
  for (const [index, cert] of [...chain, ...anchors].entries()) {
    const weakness = keyWeakness(cert.publicKey);
    if (weakness) {
      const place = index < chain.length ? `${what}.cert` : `${what}.ca`;
      throw new CodedError(
        TlsErrorCode.weakKey,
        `${place}: the certificate for "${cert.subject.replace(/\n/g, ', ')}" has ${weakness}; ${TLS_PROFILE.guideline} needs ECDSA P-256/P-384 or RSA ≥ 3072`,
      );
    }
  }
  const leaf = chain[0];
  if (leaf) {
    if (Date.parse(leaf.validTo) < now || Date.parse(leaf.validFrom) > now) {
      throw new CodedError(
        TlsErrorCode.expired,
        `${what}.cert: the certificate is valid from ${leaf.validFrom} to ${leaf.validTo}, not now; renew it (identgate pki issue / sign)`,
      );
    }
  }
  if (material.key !== undefined) {
    let key: KeyObject;
    try {
      key = createPrivateKey(material.key);
    } catch (error) {
      throw new CodedError(
        TlsErrorCode.badCertificate,
        `${what}.key: not a private key in PEM form: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const weakness = keyWeakness(key);
    if (weakness) throw new CodedError(TlsErrorCode.weakKey, `${what}.key: ${weakness}`);
    if (leaf && !leaf.checkPrivateKey(key)) {
      throw new CodedError(
        TlsErrorCode.keyMismatch,
        `${what}.key does not belong to the certificate in ${what}.cert`,
      );
    }
  }
}

/** Whether `host` names this machine's loopback interface only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/**
 * "Secure by default outside loopback": a listener bound anywhere but loopback must have TLS.
 * `how` tells the operator what to configure.
 */
export function assertListenerSecure(what: string, host: string, hasTls: boolean, how: string): void {
  if (hasTls || isLoopbackHost(host)) return;
  throw new CodedError(
    TlsErrorCode.required,
    `${what}: refusing to listen on ${host} without TLS; only loopback (127.0.0.1, ::1) may be plain. ${how}`,
  );
}
