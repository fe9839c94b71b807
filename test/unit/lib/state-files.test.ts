import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicAsync } from '../../../src/lib/state-files.js';

const WRITER = fileURLToPath(new URL('../../helpers/write-state-file.ts', import.meta.url));

/** Runs the writer with a file size limit of `limitKiB`: past it, writes are cut short, then refused. */
function writeUnderLimit(path: string, bytes: number, limitKiB: number, mode = 'sync'): unknown {
  const output = execFileSync('bash', [
    '-c',
    `ulimit -f ${limitKiB}; exec "$0" --import tsx "$1" "$2" "$3" "$4"`,
    process.execPath,
    WRITER,
    path,
    String(bytes),
    mode,
  ]);
  return JSON.parse(output.toString());
}

describe('writeFileAtomic', () => {
  it('writes the whole content, replacing the file before', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const path = join(dir, 'state.json');
    writeFileSync(path, 'before');
    writeFileAtomic(path, 'after');
    expect(readFileSync(path, 'utf8')).toBe('after');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('throws when the disk takes only part of the content, and leaves the file before as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const path = join(dir, 'credentials.sealed');
    writeFileSync(path, 'the set before');
    // 256 KiB against a limit of 64 KiB: the kernel writes 64 KiB, then refuses with EFBIG.
    expect(writeUnderLimit(path, 256 * 1024, 64)).toEqual({ written: false, code: 'EFBIG' });
    expect(readFileSync(path, 'utf8')).toBe('the set before');
    expect(readdirSync(dir)).toEqual(['credentials.sealed']);
  });

  it('writes content within the limit in full', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const path = join(dir, 'credentials.sealed');
    expect(writeUnderLimit(path, 48 * 1024, 64)).toEqual({ written: true });
    expect(readFileSync(path).length).toBe(48 * 1024);
  });
});

describe('writeFileAtomicAsync', () => {
  it('writes the whole content, replacing the file before, and leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const path = join(dir, 'state.json');
    writeFileSync(path, 'before');
    await writeFileAtomicAsync(path, 'after');
    expect(readFileSync(path, 'utf8')).toBe('after');
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('rejects when the disk takes only part of the content, and leaves the file before as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const path = join(dir, 'alarm-conditions.json');
    writeFileSync(path, 'the conditions before');
    expect(writeUnderLimit(path, 256 * 1024, 64, 'async')).toEqual({ written: false, code: 'EFBIG' });
    expect(readFileSync(path, 'utf8')).toBe('the conditions before');
    expect(readdirSync(dir)).toEqual(['alarm-conditions.json']);
  });
});
