import { writeSync } from 'node:fs';
import type { WriteBytes } from '../../src/gateway/recorder/segment-index.js';

/**
 * `writeSync` on a disk with `disk.room` bytes left, as a full disk behaves: a write larger than
 * the room takes what fits and returns that short count without failing; the next one fails
 * with ENOSPC. For SegmentIndex's write seam.
 */
export function diskWithRoom(room = Number.POSITIVE_INFINITY) {
  const disk = { room, shortWrites: 0 };
  const write: WriteBytes = (fd, buffer, offset, length) => {
    if (disk.room <= 0)
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const taken = Math.min(length, disk.room);
    if (taken < length) disk.shortWrites += 1;
    disk.room -= taken;
    return writeSync(fd, buffer, offset, taken);
  };
  return { disk, write };
}
