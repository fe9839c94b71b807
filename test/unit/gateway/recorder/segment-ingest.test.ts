import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type FootageFile,
  SegmentIndex,
  type WriteBytes,
} from '../../../../src/gateway/recorder/segment-index.js';
import {
  HOLD_MAX_MS,
  RETRY_MS,
  type RejectedSegment,
  SegmentIngest,
} from '../../../../src/gateway/recorder/segment-ingest.js';
import type { DataKey } from '../../../../src/gateway/recorder/video-keys.js';
import { VideoKeyStore } from '../../../../src/gateway/recorder/video-keys.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { diskWithRoom } from '../../../helpers/short-writes.js';

/** A key store whose disk refuses new keys while `failing` (full, read-only, gone). */
class FlakyKeys extends VideoKeyStore {
  failing = false;
  override keyFor(camera: string, day: string): DataKey {
    if (this.failing) throw new Error(`EROFS: read-only file system, open '${camera}/${day}.key'`);
    return super.keyFor(camera, day);
  }
}

const box = (type: string, body = 8) => {
  const b = Buffer.alloc(8 + body);
  b.writeUInt32BE(8 + body, 0);
  b.write(type, 4, 'latin1');
  return b;
};
/** What ffmpeg leaves in the spool for one listed segment: a fragmented MP4 of about `bytes`. */
const mp4 = (bytes = 1000) =>
  Buffer.concat([box('ftyp'), box('moov', 100), box('moof', 40), box('mdat', bytes)]);

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function rig(spoolTotalBytes?: number, indexWrite?: WriteBytes) {
  const root = mkdtempSync(join(tmpdir(), 'idg-ingest-'));
  roots.push(root);
  const spool = join(root, 'spool');
  mkdirSync(spool);
  const clock = new FakeClock(Date.parse('2026-03-01T08:00:00Z'));
  const keys = new FlakyKeys(join(root, 'keys'), randomBytes(32));
  const index = new SegmentIndex(join(root, 'video'), silentLogger, undefined, indexWrite);
  const ingest = new SegmentIngest({
    index,
    keys,
    ffprobe: '/nonexistent/ffprobe',
    clock,
    log: silentLogger,
    ...(spoolTotalBytes ? { spoolSpace: () => ({ totalBytes: spoolTotalBytes, freeBytes: 0 }) } : {}),
  });
  const stored: FootageFile[] = [];
  const rejected: RejectedSegment[] = [];
  ingest.indexed.on((f) => stored.push(f));
  ingest.rejected.on((r) => rejected.push(r));
  let n = 0;
  /** Hands the ingest a segment ffmpeg listed; resolves when it was dealt with. */
  const segment = async (content = mp4()) => {
    n += 1;
    const path = join(spool, `cam-1-x-1-${String(n).padStart(6, '0')}.mp4`);
    writeFileSync(path, content);
    const startMs = clock.now() - 1000;
    await ingest.add({ camera: 'cam-1', path, startMs, endMs: clock.now(), salvaged: false });
    return path;
  };
  /** Lets the retry timer fire and the retry run. */
  const retry = async () => {
    clock.advance(RETRY_MS);
    await ingest.idle();
  };
  return { clock, keys, index, ingest, stored, rejected, segment, retry, spool };
}

describe('segment ingest when the footage cannot be stored', () => {
  it('keeps the segment in the spool, says so at once, and stores it when storing works again', async () => {
    const { keys, ingest, stored, rejected, segment, retry, index } = rig();
    keys.failing = true;
    const path = await segment();
    expect(rejected).toEqual([
      {
        camera: 'cam-1',
        file: path.split('/').pop(),
        detail: expect.stringMatching(/^EROFS: .*; kept in the spool and tried again every 30 s for 10 min$/),
      },
    ]);
    expect(existsSync(path)).toBe(true);
    expect(ingest.heldSegments).toHaveLength(1);

    await retry();
    expect(stored).toEqual([]);
    keys.failing = false;
    await retry();
    expect(stored).toHaveLength(1);
    expect(existsSync(path)).toBe(false);
    expect(ingest.heldSegments).toEqual([]);
    expect(index.all('cam-1').map((f) => f.file)).toEqual([stored[0]?.file]);
    expect(rejected).toHaveLength(1);
  });

  it('keeps the segment when the disk takes only part of its index row, and stores it once there is room', async () => {
    const { disk, write } = diskWithRoom(0);
    const { ingest, stored, rejected, segment, retry, index } = rig(undefined, write);
    disk.room = 50;
    const path = await segment();
    expect(rejected).toEqual([
      {
        camera: 'cam-1',
        file: path.split('/').pop(),
        detail: expect.stringMatching(/row for .* not written: ENOSPC.*; kept in the spool/),
      },
    ]);
    expect(existsSync(path)).toBe(true);
    const dayDir = index.dayDir('cam-1', '2026-03-01');
    expect(readdirSync(dayDir)).toEqual(['index.jsonl']); // the encrypted copy is not left behind
    expect(readFileSync(join(dayDir, 'index.jsonl'), 'utf8')).toBe('');

    disk.room = Number.POSITIVE_INFINITY;
    await retry();
    expect(existsSync(path)).toBe(false);
    expect(index.all('cam-1').map((f) => f.file)).toEqual([stored[0]?.file]);
    expect(ingest.heldSegments).toEqual([]);
  });

  it('gives a kept segment up after 10 minutes and deletes its plaintext', async () => {
    const { keys, ingest, rejected, segment, retry } = rig();
    keys.failing = true;
    const path = await segment();
    for (let waited = 0; waited < HOLD_MAX_MS; waited += RETRY_MS) await retry();
    expect(existsSync(path)).toBe(false);
    expect(ingest.heldSegments).toEqual([]);
    expect(rejected.at(-1)?.detail).toMatch(
      /; given up after \d+ tries \(not stored within 10 min\) and deleted$/,
    );
  });

  it('keeps at most a quarter of the spool, giving up the oldest first', async () => {
    const size = mp4().length;
    const { keys, ingest, rejected, segment } = rig(4 * (2 * size + 1));
    keys.failing = true;
    const first = await segment();
    const second = await segment();
    const third = await segment();
    expect(existsSync(first)).toBe(false);
    expect([existsSync(second), existsSync(third)]).toEqual([true, true]);
    expect(ingest.heldSegments.map((h) => h.file)).toEqual([second, third].map((p) => p.split('/').pop()));
    expect(rejected.map((r) => r.detail.replace(/^EROFS[^;]*; /, ''))).toEqual([
      'kept in the spool and tried again every 30 s for 10 min',
      'kept in the spool and tried again every 30 s for 10 min',
      'kept in the spool and tried again every 30 s for 10 min',
      'given up after 1 tries (no room to keep more) and deleted',
    ]);
  });

  it('tries the kept segments once more when stopped, and leaves what still fails in the spool', async () => {
    const { keys, ingest, stored, segment } = rig();
    keys.failing = true;
    const kept = await segment();
    const stays = await segment();
    keys.failing = false;
    const tries = keys.keyFor.bind(keys);
    let calls = 0;
    keys.keyFor = (camera, day) => {
      calls += 1;
      if (calls > 1) throw new Error('EIO');
      return tries(camera, day);
    };
    await ingest.stop();
    expect(stored).toHaveLength(1);
    expect([existsSync(kept), existsSync(stays)]).toEqual([false, true]);
  });

  it('deletes a segment that is not playable at once', async () => {
    const { ingest, rejected, segment } = rig();
    const path = await segment(Buffer.concat([box('ftyp'), box('moov')]));
    expect(existsSync(path)).toBe(false);
    expect(ingest.heldSegments).toEqual([]);
    expect(rejected).toEqual([
      {
        camera: 'cam-1',
        file: path.split('/').pop(),
        detail: expect.stringContaining('no complete movie fragment'),
      },
    ]);
  });

  it('deletes the empty file a dead ffmpeg left without reporting a rejection', async () => {
    const { ingest, rejected, spool } = rig();
    const path = join(spool, 'cam-1-x-1-000009.mp4');
    writeFileSync(path, '');
    await ingest.add({ camera: 'cam-1', path, startMs: undefined, endMs: undefined, salvaged: true });
    expect(existsSync(path)).toBe(false);
    expect(rejected).toEqual([]);
  });
});
