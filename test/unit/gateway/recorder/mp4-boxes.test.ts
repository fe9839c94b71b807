import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFragmentedMp4 } from '../../../../src/gateway/recorder/mp4-boxes.js';

const dir = mkdtempSync(join(tmpdir(), 'idg-mp4-'));
const box = (type: string, body = 8) => {
  const b = Buffer.alloc(8 + body);
  b.writeUInt32BE(8 + body, 0);
  b.write(type, 4, 'latin1');
  return b;
};
const write = (name: string, ...boxes: Buffer[]) => {
  writeFileSync(join(dir, name), Buffer.concat(boxes));
  return join(dir, name);
};

describe('fragmented MP4 structure check', () => {
  it('accepts ftyp, moov and complete fragments', async () => {
    const path = write(
      'ok.mp4',
      box('ftyp'),
      box('moov', 100),
      box('moof', 40),
      box('mdat', 5000),
      box('moof', 40),
      box('mdat', 10),
    );
    expect(await checkFragmentedMp4(path)).toEqual({ fragments: 2, bytes: 5000 + 10 + 100 + 80 + 6 * 8 + 8 });
  });

  it('refuses a segment cut off inside its last box', async () => {
    const whole = Buffer.concat([box('ftyp'), box('moov'), box('moof'), box('mdat', 5000)]);
    writeFileSync(join(dir, 'cut.mp4'), whole.subarray(0, whole.length - 10));
    await expect(checkFragmentedMp4(join(dir, 'cut.mp4'))).rejects.toThrow(/mdat box runs past the end/);
  });

  it('refuses a segment without any fragment', async () => {
    await expect(checkFragmentedMp4(write('empty.mp4', box('ftyp'), box('moov')))).rejects.toThrow(
      /no complete movie fragment/,
    );
  });

  it('refuses something that is not an MP4', async () => {
    await expect(
      checkFragmentedMp4(write('junk.mp4', Buffer.from('GIF89a this is not a video file'))),
    ).rejects.toThrow();
  });
});
