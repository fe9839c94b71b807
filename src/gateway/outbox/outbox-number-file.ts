import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { readNumberFile, writeNumberFile } from '../../lib/number-file.js';

/**
 * The outbox's two number files beside its segments (see number-file.ts for their form):
 * `acked`, the sequence number up to which everything was acknowledged, and `issued`, the
 * highest number given up unwritten or held by the newest segment when it was removed.
 */
export type NumberFile = 'acked' | 'issued';

/**
 * `acked` (the watermark) or `issued` (the highest number given up): 0 when not written yet,
 * undefined (logged) when damaged. A bit flipped in the watermark would otherwise pass records
 * never acknowledged, which would then be neither published nor reported.
 */
export function readNumber(dir: string, name: NumberFile, log: Logger): number | undefined {
  let value: number | undefined;
  try {
    value = readNumberFile(join(dir, name));
  } catch (error) {
    log.error({ err: error, file: name }, 'outbox: could not read a number file');
    return undefined;
  }
  if (value === undefined) log.error({ file: name }, 'outbox: number file damaged');
  return value;
}

export function writeNumber(dir: string, name: NumberFile, value: number): void {
  writeNumberFile(join(dir, name), value);
}
