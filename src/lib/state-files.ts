import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes a file so that after a crash either the old or the new content is there, never half. A
 * disk that fills up takes part of a write and refuses the rest: the error is thrown, the partial
 * copy removed, and the old file left as it was.
 */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSynced(tmp, typeof data === 'string' ? Buffer.from(data) : data, mode);
  renameSync(tmp, path);
  syncDirectory(dirname(path));
}

/**
 * Writes a file whole and fsyncs it (`flag` `wx`: only a new one); a write that fails removes
 * the partial file and throws. The first half of an atomic write, for callers that check
 * something before their own rename.
 */
export function writeFileSynced(path: string, bytes: Buffer, mode = 0o600, flag: 'w' | 'wx' = 'w'): void {
  const fd = openSync(path, flag, mode);
  try {
    for (let written = 0; written < bytes.length; )
      written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw error;
  }
  closeSync(fd);
}

/** Makes a rename or a removal in `dir` durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * writeFileAtomic off the event loop, with the same durability: a temporary file written and
 * synced, renamed over the file, and the directory synced. One write per path at a time: the
 * temporary file's name is the same for every write of this process.
 */
export async function writeFileAtomicAsync(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  const file = await open(tmp, 'w', mode);
  try {
    for (let written = 0; written < bytes.length; )
      written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
    await file.sync();
  } catch (error) {
    await file.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await file.close();
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Returns the file's content, creating it first with `create()` when it does not exist. */
export function readOrCreate(path: string, create: () => string | Buffer): Buffer {
  if (!existsSync(path)) writeFileAtomic(path, create());
  return readFileSync(path);
}
