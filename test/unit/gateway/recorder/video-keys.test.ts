import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VideoKeyStore } from '../../../../src/gateway/recorder/video-keys.js';
import { hasCode } from '../../../../src/lib/coded-error.js';
import { KeyRing } from '../../../../src/lib/key-ring.js';

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return hasCode(error, 'IDG_VIDEO_KEY_MISSING') ? 'IDG_VIDEO_KEY_MISSING' : String(error);
  }
}

describe('per-camera, per-day video keys', () => {
  const siteKey = randomBytes(32);

  it('creates one key per camera and day and finds it again after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const first = new VideoKeyStore(dir, siteKey).keyFor('cam-1', '2026-01-01');
    expect(first.keyId).toBe('cam-1/2026-01-01');
    const again = new VideoKeyStore(dir, siteKey);
    expect(again.lookup('cam-1/2026-01-01')).toEqual(first.key);
    expect(again.keyFor('cam-1', '2026-01-02').key).not.toEqual(first.key);
    expect(
      again
        .list()
        .map((k) => k.keyId)
        .sort(),
    ).toEqual(['cam-1/2026-01-01', 'cam-1/2026-01-02']);
  });

  it('stores keys wrapped, never in the clear', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const { key } = new VideoKeyStore(dir, siteKey).keyFor('cam-1', '2026-01-01');
    const file = readFileSync(join(dir, 'cam-1', '2026-01-01.key'));
    expect(file.includes(key)).toBe(false);
    expect(file.toString().includes(key.toString('base64url'))).toBe(false);
  });

  it('cannot unwrap a key with another site key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    new VideoKeyStore(dir, siteKey).keyFor('cam-1', '2026-01-01');
    expect(codeOf(() => new VideoKeyStore(dir, randomBytes(32)).lookup('cam-1/2026-01-01'))).toBe(
      'IDG_VIDEO_KEY_MISSING',
    );
  });

  it('forgets a deleted key for good, also from memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const store = new VideoKeyStore(dir, siteKey);
    store.keyFor('cam-1', '2026-01-01');
    expect(store.delete('cam-1/2026-01-01')).toBe(true);
    expect(store.delete('cam-1/2026-01-01')).toBe(false);
    expect(codeOf(() => store.lookup('cam-1/2026-01-01'))).toBe('IDG_VIDEO_KEY_MISSING');
    expect(store.list()).toEqual([]);
  });

  it('marks the keys it makes as authenticating their day’s index, and keeps the mark through a re-wrap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const { key } = new VideoKeyStore(dir, siteKey).keyFor('cam-1', '2026-01-01');
    const nextSiteKey = randomBytes(32);
    const again = new VideoKeyStore(dir, new KeyRing(nextSiteKey, [siteKey]));
    expect(again.rewrap().rewrapped).toBe(1);
    const afterRotation = new VideoKeyStore(dir, nextSiteKey);
    expect(afterRotation.lookup('cam-1/2026-01-01')).toEqual(key);
    expect(afterRotation.indexAuthenticated('cam-1/2026-01-01')).toBe(true);
  });

  it('reads a key made before index rows were authenticated as such', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-keys-'));
    const key = randomBytes(32);
    mkdirSync(join(dir, 'cam-1'));
    writeFileSync(
      join(dir, 'cam-1', '2025-12-31.key'),
      new KeyRing(siteKey).seal(key, 'identgate/video-key/v1/cam-1/2025-12-31'),
    );
    const store = new VideoKeyStore(dir, siteKey);
    expect(store.lookup('cam-1/2025-12-31')).toEqual(key);
    expect(store.indexAuthenticated('cam-1/2025-12-31')).toBe(false);
  });

  it('refuses key ids that could escape the key directory', () => {
    const store = new VideoKeyStore(mkdtempSync(join(tmpdir(), 'idg-keys-')), siteKey);
    expect(codeOf(() => store.lookup('../x/2026-01-01'))).toBe('IDG_VIDEO_KEY_MISSING');
    expect(codeOf(() => store.lookup('cam-1/../../etc'))).toBe('IDG_VIDEO_KEY_MISSING');
  });
});
