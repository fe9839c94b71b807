import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { writeFileAtomic } from './state-files.js';

/**
 * A file holding one number, `<number> <crc32 of the number, 8 hex digits>\n`, written
 * atomically: a bit flipped on the disk shows as damage instead of passing as another number.
 */
export function writeNumberFile(path: string, value: number): void {
  writeFileAtomic(path, `${value} ${numberCheck(value)}\n`);
}

/**
 * The file's number: 0 when there is no file, undefined when it is damaged. Other errors (a
 * directory that cannot be read) are thrown.
 */
export function readNumberFile(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  return readChecked(text);
}

function numberCheck(value: number): string {
  return crc32(String(value)).toString(16).padStart(8, '0');
}

/**
 * A number file's value, or undefined when its checksum does not hold. A bare number is what
 * files before the checksum held, and is taken as it is.
 */
function readChecked(text: string): number | undefined {
  const match = /^(\d{1,16})(?: ([0-9a-f]{8}))?\n$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  if (match[2] !== undefined && match[2] !== numberCheck(value)) return undefined;
  return value;
}
