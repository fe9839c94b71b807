import { createPublicKey, X509Certificate as NodeCertificate, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { open, sealWithKeyId } from '../lib/aead.js';
import { CodedError } from '../lib/coded-error.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { keyWeakness } from '../lib/tls-profile.js';
import { CertificateIndex, type IndexEntry } from './certificate-index.js';
import { type Identity, PkiErrorCode, ROLE_USAGE } from './identities.js';
import { type PkiPaths, pkiPaths } from './pki-paths.js';
import { CA_ALGORITHM, type CryptoKey, type CryptoKeyPair, LEAF_ALGORITHM, subtle, x509 } from './x509.js';

const CA_KEY_CONTEXT = 'identgate/pki/ca-key/v1';
const DAY_MS = 86_400_000;
/** Issued certificates start a little in the past, for devices whose clocks run late. */
const BACKDATE_MS = 5 * 60_000;
/** A CRL that has run out makes OpenSSL refuse every client: it is re-signed long before that. */
export const CRL_DAYS = 400;

export interface IssueOptions {
  /** Host names and IP addresses (dashboards and brokers). */
  sans?: readonly string[];
  days?: number;
  now?: number;
}

export interface Issued {
  certPem: string;
  entry: IndexEntry;
}

/** 16 random bytes as a positive serial (RFC 5280 allows up to 20 octets). */
function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function toPem(label: string, der: ArrayBuffer | Buffer): string {
  const body = Buffer.from(der as ArrayBuffer).toString('base64');
  return `-----BEGIN ${label}-----\n${body.replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await subtle.exportKey('pkcs8', key));
}

export function subjectAltNames(sans: readonly string[]): x509.SubjectAlternativeNameExtension | undefined {
  if (sans.length === 0) return undefined;
  const names = sans.map((san) => {
    if (isIP(san)) return { type: 'ip' as const, value: san };
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62})?)*$/.test(san)) {
      throw new CodedError(
        PkiErrorCode.name,
        `${JSON.stringify(san)} is neither a host name nor an IP address`,
      );
    }
    return { type: 'dns' as const, value: san.toLowerCase() };
  });
  return new x509.SubjectAlternativeNameExtension(names);
}

function sansOf(csr: x509.Pkcs10CertificateRequest): string[] {
  const ext = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
  return ext instanceof x509.SubjectAlternativeNameExtension ? ext.names.items.map((name) => name.value) : [];
}

/** Creates the site CA. Refuses to overwrite one: a new CA invalidates every certificate. */
export async function initSiteCa(
  dir: string,
  keyEncryptionKey: Buffer,
  options: { name: string; years?: number; now?: number },
): Promise<x509.X509Certificate> {
  const paths = pkiPaths(dir);
  if (existsSync(paths.caCert) || existsSync(paths.caKey)) {
    throw new CodedError(PkiErrorCode.exists, `${dir} already holds a CA; identgate never overwrites one`);
  }
  const now = options.now ?? Date.now();
  const keys = (await subtle.generateKey(CA_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: [{ CN: [options.name] }, { O: ['identgate'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (options.years ?? 10) * 365 * DAY_MS),
    keys,
    signingAlgorithm: CA_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  writeFileAtomic(paths.caKey, `${sealWithKeyId(keyEncryptionKey, pkcs8, CA_KEY_CONTEXT)}\n`, 0o600);
  pkcs8.fill(0);
  writeFileAtomic(paths.caCert, cert.toString('pem'), 0o644);
  const ca = new SiteCa(paths, cert, keys.privateKey, CertificateIndex.load(paths.index));
  await ca.writeCrl(now);
  return cert;
}

export class SiteCa {
  constructor(
    readonly paths: PkiPaths,
    readonly certificate: x509.X509Certificate,
    private readonly signingKey: CryptoKey,
    readonly index: CertificateIndex,
  ) {}

  /** Opens the CA in `dir`, unsealing its key with the key-encryption key. */
  static async open(dir: string, keyEncryptionKey: Buffer): Promise<SiteCa> {
    const paths = pkiPaths(dir);
    if (!existsSync(paths.caCert) || !existsSync(paths.caKey)) {
      throw new CodedError(
        PkiErrorCode.notInitialised,
        `${dir} holds no CA; create one with identgate pki init`,
      );
    }
    let pkcs8: Buffer;
    try {
      pkcs8 = open(keyEncryptionKey, readFileSync(paths.caKey, 'utf8'), CA_KEY_CONTEXT);
    } catch (error) {
      throw new CodedError(
        PkiErrorCode.caKey,
        `the CA key in ${paths.caKey} does not open with this key-encryption key: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const signingKey = await subtle.importKey('pkcs8', pkcs8, CA_ALGORITHM, false, ['sign']);
    pkcs8.fill(0);
    const certificate = new x509.X509Certificate(readFileSync(paths.caCert, 'utf8'));
    return new SiteCa(paths, certificate, signingKey, CertificateIndex.load(paths.index));
  }

  get certificatePem(): string {
    return this.certificate.toString('pem');
  }

  /** Issues a certificate for a public key (from a CSR, or made here by `issueWithNewKey`). */
  async issue(
    identity: Identity,
    publicKey: x509.PublicKey | CryptoKey,
    source: IndexEntry['source'],
    options: IssueOptions = {},
  ): Promise<Issued> {
    const now = options.now ?? Date.now();
    const days = options.days ?? 730;
    if (!Number.isInteger(days) || days < 1 || days > 1825) {
      throw new CodedError(PkiErrorCode.days, `--days must be a whole number from 1 to 1825, got ${days}`);
    }
    const spki = createPublicKey({
      key:
        publicKey instanceof x509.PublicKey
          ? Buffer.from(publicKey.rawData)
          : Buffer.from(await subtle.exportKey('spki', publicKey)),
      format: 'der',
      type: 'spki',
    });
    const weakness = keyWeakness(spki);
    if (weakness) throw new CodedError('IDG_TLS_WEAK_KEY', `refusing to certify ${weakness}`);
    const usage = ROLE_USAGE[identity.role];
    const sans = [...(options.sans ?? [])];
    const keyUsage =
      spki.asymmetricKeyType === 'ec'
        ? x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment;
    const san = subjectAltNames(sans);
    const caKeyId = this.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: newSerial(),
      subject: [{ CN: [identity.cn] }],
      issuer: this.certificate.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(Math.min(now + days * DAY_MS, this.certificate.notAfter.getTime())),
      publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: CA_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension(
          [
            ...(usage.serverAuth ? [x509.ExtendedKeyUsage.serverAuth] : []),
            ...(usage.clientAuth ? [x509.ExtendedKeyUsage.clientAuth] : []),
          ],
          false,
        ),
        ...(san ? [san] : []),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
      ],
    });
    const certPem = cert.toString('pem');
    const entry: IndexEntry = {
      serial: cert.serialNumber.toLowerCase(),
      cn: identity.cn,
      role: identity.role,
      sans,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      fingerprint256: new NodeCertificate(certPem).fingerprint256,
      source,
      status: 'valid',
    };
    this.index.add(entry);
    return { certPem, entry };
  }

  /** Makes an ECDSA P-256 key here and certifies it (for devices that cannot make a CSR). */
  async issueWithNewKey(
    identity: Identity,
    options: IssueOptions = {},
  ): Promise<Issued & { keyPem: string }> {
    const keys = (await subtle.generateKey(LEAF_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
    const issued = await this.issue(identity, keys.publicKey, 'issued', options);
    return { ...issued, keyPem: await privateKeyPem(keys.privateKey) };
  }

  /** Certifies the key in a CSR after checking its signature; SANs come from `options` or the CSR. */
  async signRequest(csrPem: string, identity: Identity, options: IssueOptions = {}): Promise<Issued> {
    const csr = parseRequest(csrPem);
    if (!(await csr.verify())) {
      throw new CodedError(
        PkiErrorCode.csr,
        'the CSR signature does not verify: it was altered or is broken',
      );
    }
    const sans = options.sans && options.sans.length > 0 ? options.sans : sansOf(csr);
    return this.issue(identity, csr.publicKey, 'csr', { ...options, sans });
  }

  /** Revokes, re-signs the CRL and returns what was revoked. */
  async revoke(serialOrCn: string, now: number = Date.now()): Promise<IndexEntry[]> {
    const revoked = this.index.revoke(serialOrCn, now);
    await this.writeCrl(now);
    return revoked;
  }

  /** Signs a CRL of every revoked certificate that has not yet expired, valid for CRL_DAYS. */
  async writeCrl(now: number = Date.now()): Promise<string> {
    const caKeyId = this.certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const crl = await x509.X509CrlGenerator.create({
      issuer: this.certificate.subject,
      thisUpdate: new Date(now - BACKDATE_MS),
      nextUpdate: new Date(now + CRL_DAYS * DAY_MS),
      entries: this.index
        .revoked()
        .filter((e) => Date.parse(e.notAfter) > now)
        .map((e) => ({ serialNumber: e.serial, revocationDate: new Date(e.revokedAt ?? now) })),
      signingKey: this.signingKey,
      signingAlgorithm: CA_ALGORITHM,
      extensions: caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : [],
    });
    // OpenSSL (and so Mosquitto) reads CRLs under the "X509 CRL" label only.
    const pem = crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
    writeFileAtomic(this.paths.crl, pem, 0o644);
    return pem;
  }
}

export function parseRequest(csrPem: string): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(csrPem);
  } catch (error) {
    throw new CodedError(PkiErrorCode.csr, `not a PKCS#10 request in PEM form: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** The common name a CSR asks for. */
export function requestedCommonName(csr: x509.Pkcs10CertificateRequest): string {
  const cn = csr.subjectName.getField('CN')[0];
  if (!cn) throw new CodedError(PkiErrorCode.csr, 'the CSR has no common name (CN)');
  return cn;
}

/**
 * On the device: makes an ECDSA P-256 key and a CSR for `identity`. Only the CSR leaves the
 * device; the key stays in the file the caller writes with mode 0600.
 */
export async function createRequest(
  identity: Identity,
  sans: readonly string[] = [],
): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await subtle.generateKey(LEAF_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const san = subjectAltNames(sans);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [identity.cn] }],
    keys,
    signingAlgorithm: LEAF_ALGORITHM,
    extensions: san ? [san] : [],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}
