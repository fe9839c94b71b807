import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RecorderErrorCode, recorderError } from './recorder-errors.js';

/**
 * Footage at rest: AES-256-GCM in independently authenticated chunks (the STREAM construction),
 * so a player can decrypt any byte range without reading the whole file, and a cut-off or
 * reordered file is detected.
 *
 *   header: "IDGV" | version u8 (1) | chunk size log2 u8 | key id length u8 | key id | base IV (12)
 *   chunks: ciphertext (chunk size, the last one 0..chunk size) | tag (16), one after another
 *
 * Chunk i uses IV = base IV xor i (in the last 8 bytes) and authenticates header | i (u64) |
 * final flag (u8) as associated data: a chunk cannot move, the header cannot change, and a file
 * whose last chunk was not written as final is recognised as truncated.
 */
const MAGIC = Buffer.from('IDGV');
const VERSION = 1;
const TAG_BYTES = 16;
const IV_BYTES = 12;
export const DEFAULT_CHUNK_LOG2 = 16;

export interface SegmentHeader {
  version: number;
  keyId: string;
  chunkSize: number;
  baseIv: Buffer;
  /** The header's bytes, authenticated with every chunk. */
  bytes: Buffer;
}

export type KeyLookup = (keyId: string) => Buffer;

export function buildHeader(
  keyId: string,
  chunkLog2 = DEFAULT_CHUNK_LOG2,
  baseIv = randomBytes(IV_BYTES),
): SegmentHeader {
  const id = Buffer.from(keyId, 'utf8');
  if (id.length === 0 || id.length > 255) throw new Error('key id must be 1 to 255 bytes');
  const bytes = Buffer.concat([MAGIC, Buffer.from([VERSION, chunkLog2, id.length]), id, baseIv]);
  return { version: VERSION, keyId, chunkSize: 2 ** chunkLog2, baseIv, bytes };
}

export function parseHeader(data: Buffer): SegmentHeader {
  const fail = (why: string) =>
    recorderError(RecorderErrorCode.format, `not an identgate footage file: ${why}`);
  if (data.length < 7 || !data.subarray(0, 4).equals(MAGIC)) throw fail('no IDGV header');
  const version = data[4] as number;
  if (version !== VERSION) throw fail(`unknown version ${version}`);
  const chunkLog2 = data[5] as number;
  if (chunkLog2 < 10 || chunkLog2 > 24) throw fail(`chunk size 2^${chunkLog2} out of range`);
  const idLength = data[6] as number;
  const end = 7 + idLength + IV_BYTES;
  if (idLength === 0 || data.length < end) throw fail('header cut short');
  return {
    version,
    keyId: data.subarray(7, 7 + idLength).toString('utf8'),
    chunkSize: 2 ** chunkLog2,
    baseIv: Buffer.from(data.subarray(7 + idLength, end)),
    bytes: Buffer.from(data.subarray(0, end)),
  };
}

function chunkIv(baseIv: Buffer, index: number): Buffer {
  const iv = Buffer.from(baseIv);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(index));
  for (let i = 0; i < 8; i++) iv[4 + i] = (iv[4 + i] as number) ^ (counter[i] as number);
  return iv;
}

function chunkAad(header: SegmentHeader, index: number, final: boolean): Buffer {
  const suffix = Buffer.alloc(9);
  suffix.writeBigUInt64BE(BigInt(index));
  suffix[8] = final ? 1 : 0;
  return Buffer.concat([header.bytes, suffix]);
}

export function sealChunk(
  key: Buffer,
  header: SegmentHeader,
  index: number,
  plain: Buffer,
  final: boolean,
): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, chunkIv(header.baseIv, index));
  cipher.setAAD(chunkAad(header, index, final));
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function tryOpen(
  key: Buffer,
  header: SegmentHeader,
  index: number,
  sealed: Buffer,
  final: boolean,
): Buffer | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, chunkIv(header.baseIv, index));
  decipher.setAAD(chunkAad(header, index, final));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    // Authentication failed; the caller decides whether that means truncation or tampering.
    return undefined;
  }
}

export function openChunk(
  key: Buffer,
  header: SegmentHeader,
  index: number,
  sealed: Buffer,
  final: boolean,
): Buffer {
  const plain = tryOpen(key, header, index, sealed, final);
  if (plain) return plain;
  if (final && tryOpen(key, header, index, sealed, false)) {
    throw recorderError(RecorderErrorCode.truncated, `footage file ends after chunk ${index} (cut off)`);
  }
  throw recorderError(
    RecorderErrorCode.auth,
    `footage chunk ${index} failed authentication (wrong key or tampered)`,
  );
}

/** Encrypts a stream: the header, then one sealed chunk per `chunkSize` bytes, the last marked final. */
export class EncryptStream extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;
  private readonly header: SegmentHeader;

  constructor(
    private readonly key: Buffer,
    keyId: string,
    chunkLog2 = DEFAULT_CHUNK_LOG2,
  ) {
    super();
    if (key.length !== 32) throw recorderError(RecorderErrorCode.keyMissing, 'AES-256 needs a 32-byte key');
    this.header = buildHeader(keyId, chunkLog2);
    this.push(this.header.bytes);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const size = this.header.chunkSize;
    // Keep at least one byte back: only the flush knows which chunk is the final one.
    while (this.pendingBytes > size) {
      const all = Buffer.concat(this.pending);
      this.push(sealChunk(this.key, this.header, this.index++, all.subarray(0, size), false));
      this.pending = [all.subarray(size)];
      this.pendingBytes = all.length - size;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.push(sealChunk(this.key, this.header, this.index++, Buffer.concat(this.pending), true));
    done();
  }
}

export interface EncryptedFile {
  bytes: number;
  plainBytes: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
}

/** Encrypts `source` into `target` (created with mode 0600, flushed to disk). */
export async function encryptFile(
  source: string,
  target: string,
  key: Buffer,
  keyId: string,
): Promise<EncryptedFile> {
  const hash = createHash('sha256');
  let plainBytes = 0;
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      plainBytes += chunk.length;
      done(null, chunk);
    },
  });
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(
    createReadStream(source),
    tap,
    new EncryptStream(key, keyId),
    count,
    createWriteStream(target, { mode: 0o600 }),
  );
  await syncFile(target);
  return { bytes, plainBytes, sha256: hash.digest('hex') };
}

export interface EncryptedLayout {
  header: SegmentHeader;
  chunks: number;
  plainBytes: number;
}

/** Reads the header and works out the plaintext size from the file size alone. */
export async function readLayout(file: FileHandle): Promise<EncryptedLayout> {
  const head = Buffer.alloc(7 + 255 + IV_BYTES);
  const { bytesRead } = await file.read(head, 0, head.length, 0);
  const header = parseHeader(head.subarray(0, bytesRead));
  const body = (await file.stat()).size - header.bytes.length;
  const sealedChunk = header.chunkSize + TAG_BYTES;
  const chunks = Math.ceil(body / sealedChunk);
  const lastSealed = body - (chunks - 1) * sealedChunk;
  if (chunks === 0 || lastSealed < TAG_BYTES) {
    throw recorderError(RecorderErrorCode.truncated, 'footage file ends inside a chunk (cut off)');
  }
  return { header, chunks, plainBytes: body - chunks * TAG_BYTES };
}

export interface DecryptRange {
  /** First plaintext byte, inclusive. */
  start?: number;
  /** Last plaintext byte, inclusive (as in an HTTP Range header). */
  end?: number;
}

/**
 * Decrypts `path`, or only the plaintext bytes `range` asks for, chunk by chunk. Every chunk is
 * authenticated before a byte of it is passed on.
 */
export async function openDecryptStream(
  path: string,
  keyFor: KeyLookup,
  range: DecryptRange = {},
): Promise<{ stream: Readable; plainBytes: number }> {
  const file = await open(path, 'r');
  try {
    const layout = await readLayout(file);
    const key = keyFor(layout.header.keyId);
    const start = Math.max(0, range.start ?? 0);
    const end = Math.min(layout.plainBytes - 1, range.end ?? layout.plainBytes - 1);
    return {
      stream: Readable.from(decryptChunks(file, layout, key, start, end)),
      plainBytes: layout.plainBytes,
    };
  } catch (error) {
    await file.close();
    throw error;
  }
}

async function* decryptChunks(
  file: FileHandle,
  layout: EncryptedLayout,
  key: Buffer,
  start: number,
  end: number,
) {
  const { header, chunks } = layout;
  const size = header.chunkSize;
  try {
    if (end < start) {
      // An empty range still proves the key and the end of the file.
      const last = chunks - 1;
      await readChunk(file, layout, key, last);
      return;
    }
    for (let index = Math.floor(start / size); index <= Math.floor(end / size) && index < chunks; index++) {
      const plain = await readChunk(file, layout, key, index);
      const from = index * size;
      yield plain.subarray(Math.max(0, start - from), Math.min(plain.length, end - from + 1));
    }
  } finally {
    await file.close();
  }
}

async function readChunk(
  file: FileHandle,
  layout: EncryptedLayout,
  key: Buffer,
  index: number,
): Promise<Buffer> {
  const sealedChunk = layout.header.chunkSize + TAG_BYTES;
  const offset = layout.header.bytes.length + index * sealedChunk;
  const buffer = Buffer.alloc(sealedChunk);
  const { bytesRead } = await file.read(buffer, 0, sealedChunk, offset);
  return openChunk(key, layout.header, index, buffer.subarray(0, bytesRead), index === layout.chunks - 1);
}

/** Decrypts a whole file to `target` (mode 0600). */
export async function decryptFile(source: string, target: string, keyFor: KeyLookup): Promise<number> {
  const { stream, plainBytes } = await openDecryptStream(source, keyFor);
  await pipeline(stream, createWriteStream(target, { mode: 0o600 }));
  return plainBytes;
}

/** The key id a footage file was encrypted under. */
export async function readKeyId(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    return (await readLayout(file)).header.keyId;
  } finally {
    await file.close();
  }
}

/** fsync: the file's data is on disk before anything refers to it. */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
