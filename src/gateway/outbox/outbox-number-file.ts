import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../lib/logger.js';
import { writeFileAtomic } from '../../lib/state-files.js';

/**
 * The outbox's two number files beside its segments, each `<number> <crc32 of the number, 8 hex
 * digits>`: `acked`, the sequence number up to which everything was acknowledged, and `issued`,
 * the highest number given up unwritten or held by the newest segment when it was removed.
 */
export type NumberFile = 'acked' | 'issued';

/**
 * `acked` (the watermark) or `issued` (the highest number given up): 0 when not written yet,
 * undefined (logged) when damaged. A bit flipped in the watermark would otherwise pass records
 * never acknowledged, which would then be neither published nor reported.
 */
export function readNumber(dir: string, name: NumberFile, log: Logger): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, name), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0; // nothing acknowledged or given up yet
    log.error({ err: error, file: name }, 'outbox: could not read a number file');
    return undefined;
  }
  const value = readChecked(text);
  if (value === undefined)
    log.error({ file: name, content: text.slice(0, 40) }, 'outbox: number file damaged');
  return value;
}

export function writeNumber(dir: string, name: NumberFile, value: number): void {
  writeFileAtomic(join(dir, name), `${value} ${numberCheck(value)}\n`);
}

function numberCheck(value: number): string {
  return crc32(String(value)).toString(16).padStart(8, '0');
}

/**
 * A number file's value, or undefined when its checksum does not hold. A bare number is what
 * gateways before the checksum wrote, and is taken as it is.
 */
function readChecked(text: string): number | undefined {
  const match = /^(\d{1,16})(?: ([0-9a-f]{8}))?\n$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  if (match[2] !== undefined && match[2] !== numberCheck(value)) return undefined;
  return value;
}
