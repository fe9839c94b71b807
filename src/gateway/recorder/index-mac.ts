import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Index rows that name a file (`segment`, `artifact`) carry an HMAC-SHA256 under a key derived
 * (HKDF-SHA256) from the day's data key, over the camera, the day and every field of the row. So
 * someone who can write the footage disk but holds no key cannot edit a row (its times, hash,
 * key id, the clock it was recorded under), move it to another camera or day, or make one up.
 * Rows of days whose key was made before rows were authenticated have no MAC (see VideoKeyStore).
 */
const MAC_INFO = 'identgate/video-index-row/v1';

/** The fields of a row as written, with or without its `mac`. */
export type MacFields = Readonly<Record<string, string | number | boolean>>;

export function rowMac(dayKey: Buffer, camera: string, day: string, row: MacFields): string {
  const macKey = Buffer.from(hkdfSync('sha256', dayKey, Buffer.alloc(0), MAC_INFO, 32));
  try {
    return createHmac('sha256', macKey)
      .update(macInput(camera, day, row))
      .digest('hex');
  } finally {
    macKey.fill(0);
  }
}

export function rowMacValid(dayKey: Buffer, camera: string, day: string, row: MacFields): boolean {
  const claimed = row.mac;
  if (typeof claimed !== 'string' || !/^[0-9a-f]{64}$/.test(claimed)) return false;
  return timingSafeEqual(Buffer.from(rowMac(dayKey, camera, day, row), 'hex'), Buffer.from(claimed, 'hex'));
}

/** Canonical: the fields sorted by name, so the order they were written in does not matter. */
function macInput(camera: string, day: string, row: MacFields): string {
  const fields = Object.entries(row)
    .filter(([name]) => name !== 'mac')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([MAC_INFO, camera, day, fields]);
}
