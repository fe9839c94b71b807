import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  EncryptStream,
  encryptFile,
  openDecryptStream,
} from '../../../../src/gateway/recorder/segment-crypto.js';
import { hasCode } from '../../../../src/lib/coded-error.js';

const key = randomBytes(32);
const keyId = 'cam-1/2026-01-01';
const keys = (id: string) => {
  if (id !== keyId) throw new Error(`unexpected key id ${id}`);
  return key;
};
const dir = mkdtempSync(join(tmpdir(), 'idg-crypto-'));

/** Encrypts with 1 KiB chunks so that small inputs span several chunks. */
async function sealed(plain: Buffer): Promise<Buffer> {
  const parts = await Readable.from([plain])
    .pipe(new EncryptStream(key, keyId, 10))
    .toArray();
  return Buffer.concat(parts);
}

async function decrypt(data: Buffer, lookup = keys, range = {}): Promise<Buffer> {
  const path = join(dir, `f-${randomBytes(4).toString('hex')}`);
  writeFileSync(path, data);
  const { stream } = await openDecryptStream(path, lookup, range);
  return Buffer.concat(await stream.toArray());
}

async function failureCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return hasCode(error, 'IDG_VIDEO_AUTH')
      ? 'auth'
      : hasCode(error, 'IDG_VIDEO_TRUNCATED')
        ? 'truncated'
        : hasCode(error, 'IDG_VIDEO_FORMAT')
          ? 'format'
          : String(error);
  }
}

describe('segment crypto (chunked AES-256-GCM)', () => {
  it.each([0, 1, 1023, 1024, 1025, 5000])('round-trips %i bytes', async (size) => {
    const plain = randomBytes(size);
    expect(await decrypt(await sealed(plain))).toEqual(plain);
  });

  it('encrypts a file, reporting sizes and the SHA-256 of the plaintext', async () => {
    const plain = randomBytes(200_000);
    writeFileSync(join(dir, 'plain'), plain);
    const result = await encryptFile(join(dir, 'plain'), join(dir, 'sealed'), key, keyId);
    expect(result.plainBytes).toBe(plain.length);
    expect(result.bytes).toBe(readFileSync(join(dir, 'sealed')).length);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(dir, 'sealed')).includes(plain.subarray(0, 64))).toBe(false);
    expect(await decrypt(readFileSync(join(dir, 'sealed')))).toEqual(plain);
  });

  it('decrypts only the requested byte range, across chunk boundaries', async () => {
    const plain = randomBytes(5000);
    expect(await decrypt(await sealed(plain), keys, { start: 1000, end: 2100 })).toEqual(
      plain.subarray(1000, 2101),
    );
    expect(await decrypt(await sealed(plain), keys, { start: 4990 })).toEqual(plain.subarray(4990));
  });

  it('refuses a file cut off at a chunk boundary as truncated', async () => {
    const data = await sealed(randomBytes(3000));
    const headerBytes = data.length - 3000 - 3 * 16;
    expect(await failureCode(decrypt(data.subarray(0, headerBytes + 2 * (1024 + 16))))).toBe('truncated');
  });

  it('refuses a file cut off inside a chunk', async () => {
    const data = await sealed(randomBytes(3000));
    expect(await failureCode(decrypt(data.subarray(0, data.length - 100)))).toMatch(/truncated|auth/);
    expect(await failureCode(decrypt(data.subarray(0, data.length - 1)))).not.toBeUndefined();
  });

  it('refuses a flipped ciphertext bit', async () => {
    const data = await sealed(randomBytes(3000));
    data[data.length - 500] = (data[data.length - 500] as number) ^ 1;
    expect(await failureCode(decrypt(data))).toBe('auth');
  });

  it('refuses two chunks swapped', async () => {
    const plain = randomBytes(3000);
    const data = await sealed(plain);
    const header = data.length - 3000 - 3 * 16;
    const chunk = 1024 + 16;
    const swapped = Buffer.concat([
      data.subarray(0, header),
      data.subarray(header + chunk, header + 2 * chunk),
      data.subarray(header, header + chunk),
      data.subarray(header + 2 * chunk),
    ]);
    expect(await failureCode(decrypt(swapped))).toBe('auth');
  });

  it('refuses the wrong key', async () => {
    const data = await sealed(randomBytes(100));
    expect(await failureCode(decrypt(data, () => randomBytes(32)))).toBe('auth');
  });

  it('binds the key id in the header: an edited key id fails authentication', async () => {
    const data = await sealed(randomBytes(100));
    const at = data.indexOf('cam-1');
    data.write('cam-2', at);
    const lookup = () => key;
    expect(await failureCode(decrypt(data, lookup))).toBe('auth');
  });

  it('refuses a file that is not identgate footage', async () => {
    expect(await failureCode(decrypt(Buffer.from('\u0000\u0000\u0000 ftypisom plain mp4 data')))).toBe(
      'format',
    );
  });
});
