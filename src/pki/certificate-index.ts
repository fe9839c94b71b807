import { existsSync, readFileSync } from 'node:fs';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { CodedError } from '../lib/coded-error.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { type Identity, identityOfCommonName, PkiErrorCode } from './identities.js';

/**
 * Every certificate the site CA issued: what the Mosquitto ACL is generated from (one block per
 * valid identity) and what the CRL lists (the revoked ones). Kept as JSON beside the CA.
 */
export const IndexEntry = Type.Object(
  {
    serial: Type.String({ pattern: '^[0-9a-f]+$' }),
    cn: Type.String({ minLength: 1 }),
    role: Type.Union([
      Type.Literal('gateway'),
      Type.Literal('workstation'),
      Type.Literal('dashboard'),
      Type.Literal('broker'),
    ]),
    sans: Type.Array(Type.String()),
    notBefore: Type.String(),
    notAfter: Type.String(),
    fingerprint256: Type.String(),
    /** `issued`: key made on the CA machine; `csr`: key made on the device, never seen here. */
    source: Type.Union([Type.Literal('issued'), Type.Literal('csr')]),
    status: Type.Union([Type.Literal('valid'), Type.Literal('revoked')]),
    revokedAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type IndexEntry = Static<typeof IndexEntry>;

const IndexFile = Type.Object({ version: Type.Literal(1), certificates: Type.Array(IndexEntry) });
const indexValidator = Compile(IndexFile);

export class CertificateIndex {
  private constructor(
    private readonly path: string,
    private readonly entries: IndexEntry[],
  ) {}

  static load(path: string): CertificateIndex {
    if (!existsSync(path)) return new CertificateIndex(path, []);
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (!indexValidator.Check(parsed)) {
      const first = [...indexValidator.Errors(parsed)][0];
      throw new CodedError(
        'IDG_PKI_INDEX',
        `${path}: not a certificate index (${first?.instancePath || '/'} ${first?.message ?? 'invalid'})`,
      );
    }
    return new CertificateIndex(path, parsed.certificates);
  }

  all(): readonly IndexEntry[] {
    return this.entries;
  }

  /** Certificates that are neither revoked nor expired at `now`. */
  valid(now: number = Date.now()): IndexEntry[] {
    return this.entries.filter((e) => e.status === 'valid' && Date.parse(e.notAfter) > now);
  }

  /** The identities that hold at least one valid certificate, once each, sorted by CN. */
  validIdentities(now: number = Date.now()): Identity[] {
    const names = [...new Set(this.valid(now).map((e) => e.cn))].sort();
    return names.map(identityOfCommonName);
  }

  revoked(): IndexEntry[] {
    return this.entries.filter((e) => e.status === 'revoked');
  }

  add(entry: IndexEntry): void {
    this.entries.push(entry);
    this.save();
  }

  /** Revokes by serial, or every valid certificate of a common name. Returns what it revoked. */
  revoke(serialOrCn: string, now: number = Date.now()): IndexEntry[] {
    const wanted = serialOrCn.toLowerCase();
    const hits = this.entries.filter(
      (e) => e.status === 'valid' && (e.serial === wanted || e.cn === serialOrCn),
    );
    if (hits.length === 0) {
      throw new CodedError(PkiErrorCode.unknown, `no valid certificate with serial or CN ${serialOrCn}`);
    }
    for (const entry of hits) {
      entry.status = 'revoked';
      entry.revokedAt = new Date(now).toISOString();
    }
    this.save();
    return hits;
  }

  private save(): void {
    writeFileAtomic(
      this.path,
      `${JSON.stringify({ version: 1, certificates: this.entries }, null, 2)}\n`,
      0o644,
    );
  }
}
