import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkScratchRoom,
  choosePlaintextScratch,
  isInMemory,
  openScratch,
  tidyScratch,
} from '../../../../src/gateway/recorder/plaintext-scratch.js';
import { hasCode } from '../../../../src/lib/coded-error.js';
import { createLogger } from '../../../../src/lib/logger.js';

// The machines this runs on have a tmpfs at /dev/shm and none at $TMPDIR.
const memory = '/dev/shm';
const cleanups: string[] = [];
afterEach(() => {
  for (const dir of cleanups.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function videoDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'idg-scratch-'));
  cleanups.push(root);
  return join(root, 'video');
}
function logged() {
  const lines: Array<{ level: string; msg: string; origin?: string; skipped?: string[] }> = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(JSON.parse(line)) });
  return { lines, log };
}

describe('where plaintext footage lives before encryption', () => {
  it('takes a memory file system by default: a private folder per footage directory', () => {
    expect(isInMemory(memory)).toBe(true);
    const video = videoDir();
    const scratch = choosePlaintextScratch(video, undefined, [tmpdir(), memory]);
    cleanups.push(scratch.spoolDir);
    expect(scratch).toMatchObject({ origin: 'memory', skipped: [] });
    expect(scratch.spoolDir.startsWith(`${memory}/identgate-video-`)).toBe(true);
    expect(scratch.workDir).toBe(join(scratch.spoolDir, '.work'));
    expect(statSync(scratch.spoolDir).mode & 0o777).toBe(0o700);
    expect(choosePlaintextScratch(video, undefined, [memory]).spoolDir).toBe(scratch.spoolDir);
    const other = choosePlaintextScratch(videoDir(), undefined, [memory]);
    cleanups.push(other.spoolDir);
    expect(other.spoolDir).not.toBe(scratch.spoolDir);
  });

  it('refuses a folder someone prepared in its place, and falls back to the footage directory', () => {
    const video = videoDir();
    const squatted = choosePlaintextScratch(video, undefined, [memory]).spoolDir;
    rmSync(squatted, { recursive: true });
    mkdirSync(squatted, { mode: 0o755 });
    cleanups.push(squatted);
    const scratch = choosePlaintextScratch(video, undefined, [memory]);
    expect(scratch).toEqual({
      spoolDir: join(video, '.spool'),
      workDir: join(video, '.work'),
      origin: 'footage-dir',
      skipped: [`${squatted}: mode 755, not 0700`],
    });
    rmSync(squatted, { recursive: true });
    symlinkSync(tmpdir(), squatted);
    expect(choosePlaintextScratch(video, undefined, [memory]).skipped).toEqual([
      `${squatted}: not a folder (a link?)`,
    ]);
  });

  it('takes the configured folder as it is, with the work folder inside', () => {
    expect(choosePlaintextScratch(videoDir(), '/run/identgate-video', [memory])).toEqual({
      spoolDir: '/run/identgate-video',
      workDir: '/run/identgate-video/.work',
      origin: 'configured',
      skipped: [],
    });
  });

  it('warns at start when the spool shares the footage disk, and says where it is otherwise', () => {
    const video = videoDir();
    const onDisk = logged();
    openScratch(choosePlaintextScratch(video, undefined, [tmpdir()]), video, onDisk.log);
    expect(onDisk.lines).toEqual([
      expect.objectContaining({
        level: 'warn',
        origin: 'footage-dir',
        msg: expect.stringContaining('on the footage disk'),
      }),
    ]);
    const inMemory = logged();
    const scratch = choosePlaintextScratch(video, undefined, [memory]);
    cleanups.push(scratch.spoolDir);
    openScratch(scratch, video, inMemory.log);
    expect(inMemory.lines).toEqual([
      expect.objectContaining({ level: 'info', origin: 'memory', msg: 'video: plaintext spool' }),
    ]);
  });

  it('finds what was left in the spool, also in the one under the footage directory, and empties the work folders', () => {
    const video = videoDir();
    mkdirSync(join(video, '.spool', 'cam-1'), { recursive: true });
    mkdirSync(join(video, '.work', 'scratch-1'), { recursive: true });
    writeFileSync(join(video, '.spool', 'cam-1', 'old.mp4'), 'plain');
    const scratch = choosePlaintextScratch(video, undefined, [memory]);
    cleanups.push(scratch.spoolDir);
    mkdirSync(join(scratch.spoolDir, 'cam-2'), { recursive: true });
    mkdirSync(join(scratch.workDir, 'scratch-2'), { recursive: true });
    writeFileSync(join(scratch.spoolDir, 'cam-2', 'new.mp4'), 'plain');

    const leftovers = openScratch(scratch, video, logged().log);
    expect(leftovers).toEqual([
      { camera: 'cam-2', path: join(scratch.spoolDir, 'cam-2', 'new.mp4') },
      { camera: 'cam-1', path: join(video, '.spool', 'cam-1', 'old.mp4') },
    ]);
    expect(readdirSync(scratch.workDir)).toEqual([]);
    expect(existsSync(join(video, '.work'))).toBe(false);

    for (const { path } of leftovers) rmSync(path);
    tidyScratch(scratch, video);
    expect(existsSync(scratch.spoolDir)).toBe(false);
    expect(existsSync(join(video, '.spool'))).toBe(false);
  });

  it('refuses to join footage that would leave the spool less than its reserve', () => {
    const probe = () => ({ freeBytes: 100 * 1_048_576, totalBytes: 1000 * 1_048_576 });
    expect(() => checkScratchRoom('/x', 60 * 1_048_576, 40 * 1_048_576, probe)).not.toThrow();
    let thrown: unknown;
    try {
      checkScratchRoom('/x', 61 * 1_048_576, 40 * 1_048_576, probe);
    } catch (error) {
      thrown = error;
    }
    expect(hasCode(thrown, 'IDG_VIDEO_SCRATCH_FULL')).toBe(true);
    expect((thrown as Error).message).toMatch(
      /needs 61 MiB .* 100 MiB are free of which 40 MiB are kept for recording/,
    );
  });
});
