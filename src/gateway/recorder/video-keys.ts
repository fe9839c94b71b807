import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { KeyRing } from '../../lib/key-ring.js';
import { writeFileAtomic } from '../../lib/state-files.js';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';
import { DAY_PATTERN, keyIdOf } from './video-days.js';

const CONTEXT = 'identgate/video-key/v1/';
/**
 * A key made since index rows carry a MAC is wrapped as this byte and the key (33 bytes), older
 * ones as the bare key: the wrapping is authenticated under the site key, so nobody without it
 * can make a day look older than it is and pass its index rows off without a MAC.
 */
const AUTHENTICATED_INDEX = 0x02;

export interface DataKey {
  keyId: string;
  key: Buffer;
}

export interface StoredKey {
  keyId: string;
  camera: string;
  day: string;
}

/**
 * One random data key per camera and day, wrapped (AES-256-GCM) under the site key and kept in
 * its own directory, apart from the footage: deleting a day's key file makes that day's footage
 * unreadable wherever copies of it went, backups included.
 */
export class VideoKeyStore {
  private readonly cache = new Map<string, Buffer>();
  /** Days whose index rows must all carry a MAC (keys made since rows were authenticated). */
  private readonly authenticated = new Set<string>();
  private readonly ring: KeyRing;

  /** `siteKey`: the site key, or a ring of them during a rotation (new keys wrap under its current one). */
  constructor(
    readonly dir: string,
    siteKey: Buffer | KeyRing,
  ) {
    if (Buffer.isBuffer(siteKey) && siteKey.length !== 32)
      throw recorderError(RecorderErrorCode.keyMissing, 'the site key must be 32 bytes');
    this.ring = siteKey instanceof KeyRing ? siteKey : new KeyRing(siteKey);
  }

  /** Takes new site keys while recording (a reload during a rotation); call `rewrap()` afterwards. */
  replaceSiteKeys(current: Buffer, decryptOnly: readonly Buffer[] = []): void {
    this.ring.replace(current, decryptOnly);
  }

  /**
   * Re-wraps every day key not under the current site key (a rotation without stopping the
   * recorder). Each file is replaced atomically; a key no configured site key opens is reported,
   * not touched.
   */
  rewrap(): { rewrapped: number; unreadable: string[] } {
    const report = { rewrapped: 0, unreadable: [] as string[] };
    for (const { keyId } of this.list()) {
      const path = this.pathOf(keyId);
      const wrapped = readFileSync(path, 'utf8').trim();
      if (this.ring.isCurrent(wrapped)) continue;
      // The payload as it is (key, with or without its format byte): only the wrapping changes.
      let payload: Buffer;
      try {
        payload = this.ring.open(wrapped, CONTEXT + keyId);
      } catch (error) {
        report.unreadable.push(`${keyId} (${(error as Error).message})`);
        continue;
      }
      writeFileAtomic(path, `${this.ring.seal(payload, CONTEXT + keyId)}\n`);
      payload.fill(0);
      report.rewrapped += 1;
    }
    return report;
  }

  /** The day's key, created on first use. */
  keyFor(camera: string, day: string): DataKey {
    const keyId = keyIdOf(camera, day);
    if (!this.has(keyId)) {
      const key = randomBytes(32);
      const payload = Buffer.concat([Buffer.from([AUTHENTICATED_INDEX]), key]);
      writeFileAtomic(this.pathOf(keyId), `${this.ring.seal(payload, CONTEXT + keyId)}\n`);
      payload.fill(0);
      this.cache.set(keyId, key);
      this.authenticated.add(keyId);
    }
    return { keyId, key: this.lookup(keyId) };
  }

  /**
   * Whether every index row of the day must carry a valid MAC: true for keys made since rows are
   * authenticated; false for older days, whose rows without one are read as unauthenticated.
   */
  indexAuthenticated(keyId: string): boolean {
    this.lookup(keyId);
    return this.authenticated.has(keyId);
  }

  has(keyId: string): boolean {
    return this.cache.has(keyId) || existsSync(this.pathOf(keyId));
  }

  /** Unwraps a day's key; fails with IDG_VIDEO_KEY_MISSING when it was deleted. */
  lookup(keyId: string): Buffer {
    const cached = this.cache.get(keyId);
    if (cached) return cached;
    let wrapped: string;
    try {
      wrapped = readFileSync(this.pathOf(keyId), 'utf8');
    } catch (error) {
      throw recorderError(
        RecorderErrorCode.keyMissing,
        `no data key ${keyId} (deleted by retention?)`,
        error,
      );
    }
    let payload: Buffer;
    try {
      payload = this.ring.open(wrapped.trim(), CONTEXT + keyId);
    } catch (error) {
      throw recorderError(
        RecorderErrorCode.keyMissing,
        `data key ${keyId} cannot be unwrapped with this site key`,
        error,
      );
    }
    const authenticated = payload.length === 33 && payload[0] === AUTHENTICATED_INDEX;
    if (!authenticated && payload.length !== 32)
      throw recorderError(RecorderErrorCode.keyMissing, `data key ${keyId} has an unknown format`);
    const key = Buffer.from(authenticated ? payload.subarray(1) : payload);
    payload.fill(0);
    this.cache.set(keyId, key);
    if (authenticated) this.authenticated.add(keyId);
    return key;
  }

  /** Deletes a day's key for good. Returns whether there was one. */
  delete(keyId: string): boolean {
    const cached = this.cache.get(keyId);
    cached?.fill(0);
    this.cache.delete(keyId);
    this.authenticated.delete(keyId);
    const path = this.pathOf(keyId);
    if (!existsSync(path)) return false;
    unlinkSync(path);
    const cameraDir = join(path, '..');
    syncDir(cameraDir);
    if (readdirSync(cameraDir).length === 0) rmdirSync(cameraDir);
    return true;
  }

  list(): StoredKey[] {
    if (!existsSync(this.dir)) return [];
    const keys: StoredKey[] = [];
    for (const camera of readdirSync(this.dir)) {
      const cameraDir = join(this.dir, camera);
      for (const name of safeList(cameraDir)) {
        const day = name.replace(/\.key$/, '');
        if (name.endsWith('.key') && DAY_PATTERN.test(day))
          keys.push({ keyId: keyIdOf(camera, day), camera, day });
      }
    }
    return keys;
  }

  private pathOf(keyId: string): string {
    const [camera, day] = keyId.split('/');
    if (!camera || !day || !DAY_PATTERN.test(day) || camera.includes('.')) {
      throw recorderError(RecorderErrorCode.keyMissing, `malformed key id ${JSON.stringify(keyId)}`);
    }
    return join(this.dir, camera, `${day}.key`);
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    // A stray file where a camera directory was expected: it holds no keys.
    return [];
  }
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
