import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeScratchDir, removeStaleScratchDirs } from '../../../src/dashboard/scratch-dirs.js';
import { silentLogger } from '../../../src/lib/logger.js';

/** What a dashboard removes at start from the temporary directory, and what it leaves alone. */
describe('removing the temporary directories a dashboard left behind', () => {
  const previous = process.env.TMPDIR;
  let temp: string;
  /** A process id that ran and ended. */
  const gone = spawnSync(process.execPath, ['-e', '']).pid;
  const now = Date.now();

  beforeEach(() => {
    temp = mkdtempSync(join(tmpdir(), 'idg-scratch-test-'));
    process.env.TMPDIR = temp;
  });
  afterEach(() => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(temp, { recursive: true, force: true });
  });

  function leftover(name: string): string {
    const dir = join(temp, name);
    mkdirSync(join(dir, 'bundle'), { recursive: true });
    writeFileSync(join(dir, 'bundle', 'events.csv'), 'person,badge\n');
    return dir;
  }

  it("removes a directory of a process that is no longer running, with what's in it", async () => {
    const dir = leftover(`idg-export-${gone}-Ab12Cd`);
    const removed = await removeStaleScratchDirs(['idg-export-'], now, silentLogger);
    expect(removed).toEqual([dir]);
    expect(existsSync(dir)).toBe(false);
  });

  it("removes one an earlier process with this process's id left (a restarted container), and keeps its own", async () => {
    const earlier = leftover(`idg-export-${process.pid}.0badc0de-Ab12Cd`);
    const own = await makeScratchDir('idg-export-');
    expect(await removeStaleScratchDirs(['idg-export-'], now, silentLogger)).toEqual([earlier]);
    expect(existsSync(own)).toBe(true);
  });

  it('keeps a directory of a process that runs: another instance still serves it', async () => {
    const own = await makeScratchDir('idg-export-');
    const parent = leftover(`identgate-footage-${process.ppid}-Ab12Cd`);
    await removeStaleScratchDirs(['idg-export-', 'identgate-footage-'], now, silentLogger);
    expect(existsSync(own)).toBe(true);
    expect(existsSync(parent)).toBe(true);
  });

  it('removes a directory named without a process id only once it is an hour old', async () => {
    const fresh = leftover('idg-export-Ab12Cd');
    const old = leftover('idg-export-Xy34Zw');
    const hourAgo = new Date(now - 61 * 60_000);
    utimesSync(old, hourAgo, hourAgo);
    expect(await removeStaleScratchDirs(['idg-export-'], now, silentLogger)).toEqual([old]);
    expect(existsSync(fresh)).toBe(true);
  });

  it('neither follows nor removes a symbolic link, and leaves names it did not make', async () => {
    const target = leftover('elsewhere');
    symlinkSync(target, join(temp, `idg-export-${gone}-Ln12Kk`));
    const foreign = leftover(`idg-export-${gone}-with-more`);
    const file = join(temp, `identgate-footage-${gone}-Fi12Le`);
    writeFileSync(file, 'not a directory');
    expect(await removeStaleScratchDirs(['idg-export-', 'identgate-footage-'], now, silentLogger)).toEqual(
      [],
    );
    expect(existsSync(join(target, 'bundle', 'events.csv'))).toBe(true);
    expect(existsSync(join(temp, `idg-export-${gone}-Ln12Kk`))).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });
});
