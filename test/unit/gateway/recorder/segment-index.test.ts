import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rowMacValid } from '../../../../src/gateway/recorder/index-mac.js';
import {
  type IndexRow,
  SegmentIndex,
  type StoredRow,
} from '../../../../src/gateway/recorder/segment-index.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { diskWithRoom } from '../../../helpers/short-writes.js';

const row = (file: string, start: string, end: string): IndexRow => ({
  t: 'segment',
  file,
  start,
  end,
  bytes: 100,
  plainBytes: 84,
  keyId: 'cam-1/2026-01-01',
  sha256: 'a'.repeat(64),
});

describe('the JSON Lines footage index', () => {
  it('folds segment, link and removed rows into the footage that is left', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger);
    index.append('cam-1', '2026-01-01', row('b.mp4.idgv', '2026-01-01T08:01:00Z', '2026-01-01T08:02:00Z'));
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    index.append('cam-1', '2026-01-01', row('c.mp4.idgv', '2026-01-01T08:02:00Z', '2026-01-01T08:03:00Z'));
    index.append('cam-1', '2026-01-01', { t: 'link', file: 'b.mp4.idgv', event: 'evt-1' });
    index.append('cam-1', '2026-01-01', {
      t: 'removed',
      file: 'c.mp4.idgv',
      reason: 'disk-pressure',
      at: '2026-01-01T09:00:00Z',
    });
    const files = index.read('cam-1', '2026-01-01');
    expect(files.map((f) => [f.file, f.events])).toEqual([
      ['a.mp4.idgv', []],
      ['b.mp4.idgv', ['evt-1']],
    ]);
    expect(files[0]?.path).toBe(join(index.videoDir, 'cam-1', '2026-01-01', 'a.mp4.idgv'));
  });

  it('skips a torn last line left by a crash', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger);
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    appendFileSync(join(index.dayDir('cam-1', '2026-01-01'), 'index.jsonl'), '{"t":"segment","file":"b.mp');
    expect(index.read('cam-1', '2026-01-01').map((f) => f.file)).toEqual(['a.mp4.idgv']);
  });

  it('cuts a torn last line off before the next row, so that row is readable', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger);
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    const path = join(index.dayDir('cam-1', '2026-01-01'), 'index.jsonl');
    appendFileSync(path, '{"t":"segment","file":"b.mp');
    index.append('cam-1', '2026-01-01', row('c.mp4.idgv', '2026-01-01T08:02:00Z', '2026-01-01T08:03:00Z'));
    expect(index.read('cam-1', '2026-01-01').map((f) => f.file)).toEqual(['a.mp4.idgv', 'c.mp4.idgv']);
    expect(readFileSync(path, 'utf8')).not.toContain('b.mp');
  });

  it('throws and leaves the index as it was when the disk takes only part of a row', () => {
    const { disk, write } = diskWithRoom();
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger, undefined, write);
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    const path = join(index.dayDir('cam-1', '2026-01-01'), 'index.jsonl');
    const before = readFileSync(path, 'utf8');
    disk.room = 40;

    expect(() =>
      index.append('cam-1', '2026-01-01', row('b.mp4.idgv', '2026-01-01T08:01:00Z', '2026-01-01T08:02:00Z')),
    ).toThrow(
      expect.objectContaining({
        code: 'IDG_VIDEO_INDEX_WRITE',
        message: expect.stringMatching(/b\.mp4\.idgv.*ENOSPC/),
      }),
    );
    expect(disk.shortWrites).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe(before);

    disk.room = Number.POSITIVE_INFINITY;
    index.append('cam-1', '2026-01-01', row('c.mp4.idgv', '2026-01-01T08:02:00Z', '2026-01-01T08:03:00Z'));
    expect(index.read('cam-1', '2026-01-01').map((f) => f.file)).toEqual(['a.mp4.idgv', 'c.mp4.idgv']);
  });

  it('writes the rest of a row the disk took in pieces', () => {
    const pieces: number[] = [];
    const { write } = diskWithRoom();
    const index = new SegmentIndex(
      mkdtempSync(join(tmpdir(), 'idg-index-')),
      silentLogger,
      undefined,
      (fd, buffer, offset, length) => {
        const n = Math.min(length, 16);
        pieces.push(n);
        return write(fd, buffer, offset, n);
      },
    );
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    expect(pieces.length).toBeGreaterThan(1);
    expect(index.read('cam-1', '2026-01-01').map((f) => f.file)).toEqual(['a.mp4.idgv']);
  });

  it('finds the segments overlapping a range, including one begun the day before', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger);
    index.append('cam-1', '2026-01-01', row('late.mp4.idgv', '2026-01-01T23:59:30Z', '2026-01-02T00:00:30Z'));
    index.append(
      'cam-1',
      '2026-01-02',
      row('early.mp4.idgv', '2026-01-02T00:00:30Z', '2026-01-02T00:01:30Z'),
    );
    index.append(
      'cam-1',
      '2026-01-02',
      row('later.mp4.idgv', '2026-01-02T00:05:00Z', '2026-01-02T00:06:00Z'),
    );
    const found = index.segmentsBetween(
      'cam-1',
      Date.parse('2026-01-02T00:00:10Z'),
      Date.parse('2026-01-02T00:01:00Z'),
    );
    expect(found.map((f) => f.file)).toEqual(['late.mp4.idgv', 'early.mp4.idgv']);
  });

  it('does not take the spool or scratch folders for cameras', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger);
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    appendFileSync(join(index.videoDir, '.spool'), '');
    expect(index.cameras()).toEqual(['cam-1']);
  });

  it('stamps rows naming a file with boot, uptime and clock state, and authenticates them under the day key', () => {
    const dayKey = randomBytes(32);
    let synchronised = false;
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger, {
      synchronised: () => synchronised,
      uptime: () => ({ boot: 'boot-1', upMs: 42_000 }),
      dayKey: (keyId) => (keyId === 'cam-1/2026-01-01' ? dayKey : randomBytes(32)),
    });
    index.append('cam-1', '2026-01-01', row('a.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    synchronised = true;
    index.append('cam-1', '2026-01-01', row('b.mp4.idgv', '2026-01-01T08:01:00Z', '2026-01-01T08:02:00Z'));
    index.append('cam-1', '2026-01-01', { t: 'link', file: 'a.mp4.idgv', event: 'evt-1' });
    const [a, b] = index.read('cam-1', '2026-01-01');
    expect(a).toMatchObject({ unsynced: true, written: { boot: 'boot-1', upMs: 42_000 } });
    expect(b?.unsynced).toBeUndefined();
    expect(rowMacValid(dayKey, 'cam-1', '2026-01-01', a?.row as StoredRow)).toBe(true);
    // The MAC binds the camera, the day and every field.
    expect(rowMacValid(dayKey, 'cam-2', '2026-01-01', a?.row as StoredRow)).toBe(false);
    expect(rowMacValid(dayKey, 'cam-1', '2026-01-02', a?.row as StoredRow)).toBe(false);
    expect(rowMacValid(dayKey, 'cam-1', '2026-01-01', { ...(a?.row as StoredRow), unsynced: false })).toBe(
      false,
    );
    expect(rowMacValid(randomBytes(32), 'cam-1', '2026-01-01', a?.row as StoredRow)).toBe(false);
  });

  it('dates unsynced footage anew by a dated row, and only unsynced footage', () => {
    const index = new SegmentIndex(mkdtempSync(join(tmpdir(), 'idg-index-')), silentLogger, {
      synchronised: () => false,
      uptime: () => undefined,
    });
    index.append('cam-1', '2000-01-01', row('a.mp4.idgv', '2000-01-01T00:00:00Z', '2000-01-01T00:01:00Z'));
    const dated = {
      t: 'dated' as const,
      end: '2026-03-01T08:00:00.000Z',
      basis: 'uptime' as const,
      at: '2026-03-01T08:05:00.000Z',
    };
    index.append('cam-1', '2000-01-01', { ...dated, file: 'a.mp4.idgv' });
    expect(index.read('cam-1', '2000-01-01')[0]?.datedEndMs).toBe(Date.parse('2026-03-01T08:00:00Z'));

    const synced = new SegmentIndex(index.videoDir, silentLogger);
    synced.append('cam-1', '2026-01-01', row('b.mp4.idgv', '2026-01-01T08:00:00Z', '2026-01-01T08:01:00Z'));
    synced.append('cam-1', '2026-01-01', { ...dated, file: 'b.mp4.idgv' });
    expect(synced.read('cam-1', '2026-01-01')[0]?.datedEndMs).toBeUndefined();
  });
});
