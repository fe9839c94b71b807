import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A POSIX ustar archive of the files of one directory, read from disk as it is sent, for the
 * dashboard's bundle download. Plain files only, names under 100 bytes, each inside `folder/`.
 */
const BLOCK = 512;

function header(name: string, size: number, mtime: Date): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (text: string, offset: number, length: number) => block.write(text, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 12);
  put('        ', 148, 8);
  put('0', 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(`${octal(sum, 7)}\u0000 `, 148, 8);
  return block;
}

export async function* tarFiles(
  dir: string,
  folder: string,
  names: readonly string[],
): AsyncGenerator<Buffer> {
  for (const name of names) {
    const path = join(dir, name);
    const info = await stat(path);
    yield header(`${folder}/${name}`, info.size, info.mtime);
    for await (const chunk of createReadStream(path)) yield chunk as Buffer;
    const pad = (BLOCK - (info.size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}
