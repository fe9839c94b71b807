import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { Credential, CredentialLookup } from '../controllers/door-ports.js';
import { open, parseKey, seal } from '../lib/aead.js';
import { CodedError } from '../lib/coded-error.js';
import { readOrCreate, writeFileAtomic } from '../lib/state-files.js';

const CredentialSchema = Type.Object({
  badge: Type.String({ minLength: 1, maxLength: 64 }),
  person: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.String({ maxLength: 200 }),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
  validUntil: Type.Optional(Type.Integer()),
  totpSecret: Type.String({ pattern: '^[A-Z2-7]{32,}=*$' }),
});
const CacheFile = Type.Object({ updatedAt: Type.Integer(), credentials: Type.Array(CredentialSchema) });
const cacheValidator = Compile(CacheFile);

const CONTEXT = 'identgate/credential-cache/v1';

/**
 * The gateway's local copy of the credentials it needs to decide offline, encrypted at rest with
 * AES-256-GCM. The key comes from configuration (a secret file or variable) or, when none is
 * configured, from a key file created beside the cache with mode 0600.
 */
export class CredentialCache implements CredentialLookup {
  private byBadge = new Map<string, Credential>();
  private updatedAt = 0;
  private readonly path: string;
  private readonly key: Buffer;

  constructor(stateDir: string, key?: string) {
    this.path = join(stateDir, 'credentials.sealed');
    this.key = parseKey(
      key ??
        readOrCreate(join(stateDir, 'credential-key'), () => randomBytes(32).toString('base64')).toString(
          'utf8',
        ),
    );
  }

  load(): void {
    if (!existsSync(this.path)) return;
    const plain = open(this.key, readFileSync(this.path, 'utf8'), CONTEXT);
    const parsed: unknown = JSON.parse(plain.toString('utf8'));
    if (!cacheValidator.Check(parsed)) {
      throw new CodedError('IDG_CREDENTIAL_CACHE', `credential cache ${this.path} has an unexpected shape`);
    }
    this.index(parsed.credentials, parsed.updatedAt);
  }

  /** Replaces the whole set, durably, then starts using it. */
  replace(credentials: Credential[], updatedAt: number): void {
    const body = JSON.stringify({ updatedAt, credentials });
    writeFileAtomic(this.path, seal(this.key, Buffer.from(body), CONTEXT));
    this.index(credentials, updatedAt);
  }

  findByBadge(badge: string): Credential | undefined {
    return this.byBadge.get(badge);
  }

  get count(): number {
    return this.byBadge.size;
  }

  get lastUpdated(): number {
    return this.updatedAt;
  }

  private index(credentials: Credential[], updatedAt: number): void {
    this.byBadge = new Map(credentials.map((c) => [c.badge, c]));
    this.updatedAt = updatedAt;
  }
}
