import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { Credential, CredentialLookup } from '../controllers/door-ports.js';
import { assertTimezone } from '../controllers/schedule.js';
import { parseKey } from '../lib/aead.js';
import { CodedError } from '../lib/coded-error.js';
import { KeyRing } from '../lib/key-ring.js';
import { readNumberFile, writeNumberFile } from '../lib/number-file.js';
import { readOrCreate, writeFileAtomic } from '../lib/state-files.js';
import { SyncedCredential } from '../protocol/credential-set.js';

/** One credential as the central side syncs it; TOTP secrets of fewer than 160 bits are refused. */
export const CredentialSchema = SyncedCredential;
const credentialValidator = Compile(CredentialSchema);
const CacheFile = Type.Object({
  syncedAt: Type.Integer(),
  version: Type.Optional(Type.Integer()),
  /** The central side's `issuedAt` of the set: tells a set from another under the same version. */
  issuedAt: Type.Optional(Type.String({ maxLength: 40 })),
  credentials: Type.Array(CredentialSchema),
});
const cacheValidator = Compile(CacheFile);

const CONTEXT = 'identgate/credential-cache/v1';

/** The state key when none is configured: a key file beside the cache, created with mode 0600. */
export function defaultStateKey(stateDir: string): string {
  return readOrCreate(join(stateDir, 'credential-key'), () => randomBytes(32).toString('base64')).toString(
    'utf8',
  );
}

/**
 * The gateway's local copy of the credentials it needs to decide offline, encrypted at rest with
 * AES-256-GCM. The key comes from configuration (a secret file or variable) or, when none is
 * configured, from a key file created beside the cache with mode 0600.
 */
export class CredentialCache implements CredentialLookup {
  private byBadge = new Map<string, Credential>();
  private synced = 0;
  private setVersion = 0;
  private setIssuedAt: string | undefined;
  /** The highest version applied here, kept apart from the set: see newestVersion. */
  private applied = 0;
  /** What `credentials.version` holds, as far as this process wrote or read it (-1: damaged). */
  private appliedSaved = 0;
  /**
   * Why `credentials.version` could not be read at load (damaged): the highest version applied
   * before is not known, so a set older than it is taken where the saved set does not say more.
   */
  versionDamaged: string | undefined;
  /**
   * The last write of `credentials.version` failed: it holds a lower version than the one in use,
   * which matters only if the saved set is lost too. Retried with every set saved.
   */
  versionUnsaved: Error | undefined;
  private readonly path: string;
  private readonly appliedPath: string;
  private readonly ring: KeyRing;

  /** `keys`: the gateway's state key ring (see gateway-keys.ts), or one key as text. */
  constructor(stateDir: string, keys?: KeyRing | string) {
    this.path = join(stateDir, 'credentials.sealed');
    this.appliedPath = join(stateDir, 'credentials.version');
    this.ring = keys instanceof KeyRing ? keys : new KeyRing(parseKey(keys ?? defaultStateKey(stateDir)));
  }

  /**
   * Reads the saved set; throws when it cannot be read or opened. The highest version applied is
   * read first and kept even then.
   */
  load(): void {
    const applied = readNumberFile(this.appliedPath);
    this.applied = applied ?? 0;
    this.appliedSaved = applied ?? -1;
    if (applied === undefined)
      this.versionDamaged = `${this.appliedPath} is damaged: the highest credential set version applied here is not known`;
    if (!existsSync(this.path)) return;
    const plain = this.ring.open(readFileSync(this.path, 'utf8'), CONTEXT);
    const parsed: unknown = JSON.parse(plain.toString('utf8'));
    if (!cacheValidator.Check(parsed)) {
      throw new CodedError('IDG_CREDENTIAL_CACHE', `credential cache ${this.path} has an unexpected shape`);
    }
    this.index(parsed.credentials, parsed.syncedAt, parsed.version ?? 0, parsed.issuedAt);
    // The set read carries its version: written back, a damaged file holds at least that again.
    if (applied === undefined) this.saveApplied(this.setVersion);
  }

  /**
   * Replaces the whole set and saves it. Every entry is checked first; one bad entry refuses the
   * whole set (thrown), so the gateway never decides from a half-valid cache. A checked set is used
   * from then on even when it cannot be saved (a full disk): a revocation must not wait for disk
   * space. The save's error is returned; the file then still holds the set before, which a restart
   * would go back to.
   */
  replace(
    credentials: Credential[],
    syncedAt: number,
    version = this.setVersion,
    issuedAt?: string,
  ): Error | undefined {
    credentials.forEach((credential, index) => {
      if (!credentialValidator.Check(credential)) {
        const first = [...credentialValidator.Errors(credential)][0];
        throw new CodedError(
          'IDG_CREDENTIAL_INVALID',
          `credential ${index}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`,
        );
      }
      if (credential.schedule) assertTimezone(credential.schedule.timezone);
    });
    this.index(credentials, syncedAt, version, issuedAt);
    const body = JSON.stringify({ syncedAt, version, credentials, ...(issuedAt ? { issuedAt } : {}) });
    try {
      writeFileAtomic(this.path, this.ring.seal(Buffer.from(body), CONTEXT));
    } catch (error) {
      return error as Error;
    }
    // The set is saved, with its version: a failure from here on is the version file's alone.
    this.saveApplied(version);
    return undefined;
  }

  /** Raises the highest version applied to `version`, and writes it where the file is behind. */
  private saveApplied(version: number): void {
    this.applied = Math.max(this.applied, version);
    if (this.appliedSaved >= this.applied) return;
    try {
      writeNumberFile(this.appliedPath, this.applied);
      this.appliedSaved = this.applied;
      this.versionUnsaved = undefined;
    } catch (error) {
      this.versionUnsaved = error as Error;
    }
  }

  /** Re-seals the cache file under the ring's current key (a key rotation); false if it already was. */
  reseal(): boolean {
    if (!existsSync(this.path)) return false;
    const sealed = readFileSync(this.path, 'utf8');
    if (this.ring.isCurrent(sealed)) return false;
    const plain = this.ring.open(sealed, CONTEXT);
    writeFileAtomic(this.path, this.ring.seal(plain, CONTEXT));
    plain.fill(0);
    return true;
  }

  findByBadge(badge: string): Credential | undefined {
    return this.byBadge.get(badge);
  }

  get count(): number {
    return this.byBadge.size;
  }

  /** Epoch milliseconds of the last synchronisation with the central side (0: never). */
  get syncedAt(): number {
    return this.synced;
  }

  /** The version of the credential set from the central side (0: none received). */
  get version(): number {
    return this.setVersion;
  }

  /**
   * The highest version applied here and saved, even when the set itself was lost since (its
   * file damaged or removed): a set older than it is refused, so that a captured older set,
   * from before a revocation, is not taken for the gateway's first.
   */
  get newestVersion(): number {
    return Math.max(this.setVersion, this.applied);
  }

  all(): Iterable<Credential> {
    return this.byBadge.values();
  }

  /** The central side's time of issue of the set in use, where it was saved with it. */
  get issuedAt(): string | undefined {
    return this.setIssuedAt;
  }

  private index(credentials: Credential[], syncedAt: number, version: number, issuedAt?: string): void {
    // A badge listed twice keeps its revocation: an active entry never replaces a revoked one.
    this.byBadge = new Map();
    for (const credential of credentials)
      if (this.byBadge.get(credential.badge)?.status !== 'revoked')
        this.byBadge.set(credential.badge, credential);
    this.synced = syncedAt;
    this.setVersion = version;
    this.setIssuedAt = issuedAt;
  }
}
