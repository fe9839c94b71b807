import { keyId, open, sealedKeyId, sealWithKeyId } from './aead.js';
import { CodedError } from './coded-error.js';

/**
 * The keys a process may open sealed values with: one current key, which seals everything new,
 * and any number of others (the previous key during a rotation, or the next one before it
 * becomes current), which only open. Values name their key (v2), so a rotation can tell what is
 * still sealed under an old key; v1 values, which name none, are tried against every key.
 */
export class KeyRing {
  private keys: Map<string, Buffer>;
  private current: Buffer;

  constructor(current: Buffer, others: readonly Buffer[] = []) {
    this.current = current;
    this.keys = KeyRing.index(current, others);
  }

  private static index(current: Buffer, others: readonly Buffer[]): Map<string, Buffer> {
    return new Map([current, ...others].map((key) => [keyId(key), key]));
  }

  /** Swaps the keys while running (a reload), for a rotation without a restart. */
  replace(current: Buffer, others: readonly Buffer[] = []): void {
    this.keys = KeyRing.index(current, others);
    this.current = current;
  }

  get currentId(): string {
    return keyId(this.current);
  }

  get ids(): string[] {
    return [...this.keys.keys()];
  }

  seal(plaintext: Buffer, context: string): string {
    return sealWithKeyId(this.current, plaintext, context);
  }

  open(sealed: string, context: string): Buffer {
    const id = sealedKeyId(sealed);
    if (id !== undefined) {
      const key = this.keys.get(id);
      if (!key) {
        throw new CodedError(
          'IDG_CRYPTO_KEY_UNKNOWN',
          `value sealed under key ${id}, which is not among the configured keys (${this.ids.join(', ')})`,
        );
      }
      return open(key, sealed, context);
    }
    let lastError: unknown;
    for (const key of [this.current, ...this.keys.values()]) {
      try {
        return open(key, sealed, context);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  }

  /** A ring of the current key alone: what opens only what this ring would seal now. */
  currentOnly(): KeyRing {
    return new KeyRing(this.current);
  }

  /** Whether a value is sealed under the current key (and so needs no re-sealing). */
  isCurrent(sealed: string): boolean {
    return sealedKeyId(sealed) === this.currentId;
  }
}
