import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Checkpoint, signCheckpoint } from '../../../../src/dashboard/audit/chain-links.js';
import {
  appendWitness,
  compareWithWitness,
  MAX_WITNESS_BYTES,
  readWitness,
} from '../../../../src/dashboard/audit/checkpoint-witness.js';
import { exportPublicKey, generateSigningKeyPair } from '../../../../src/protocol/signing.js';

const current = generateSigningKeyPair();
const retired = generateSigningKeyPair();
const keys = {
  current: exportPublicKey(current.publicKey),
  retired: [{ publicKey: exportPublicKey(retired.publicKey), lastDay: '2026-03-02' }],
};

function day(d: string, lastNo: number, by = current, head = 'aa'.repeat(32)): Checkpoint {
  return signCheckpoint(
    {
      site: 'berlin',
      day: d,
      firstNo: lastNo - 9,
      lastNo,
      count: 10,
      prevHash: '00'.repeat(32),
      head,
      from: `${d}T00:00:00.000Z`,
      to: `${d}T23:00:00.000Z`,
    },
    by.privateKey,
    by.publicKey,
  );
}

describe('comparing the checkpoints with their witness', () => {
  it('matches by content, so a checkpoint signed anew by another trusted key still counts as witnessed', () => {
    const old = day('2026-03-01', 10, retired);
    const resigned = day('2026-03-01', 10, current);
    expect(compareWithWitness([old], [resigned], keys)).toEqual({ problems: [], newer: [], matched: 1 });
  });

  it('refuses a retired key beyond its last day, and two different lines for one day', () => {
    const late = day('2026-03-05', 10, retired);
    expect(compareWithWitness([late], [], keys).problems).toEqual([
      'the witness holds a checkpoint of chain berlin for 2026-03-05 that no trusted central key signed',
    ]);
    const a = day('2026-03-06', 10);
    const b = day('2026-03-06', 10, current, 'bb'.repeat(32));
    expect(compareWithWitness([a, b], [a], keys).problems).toEqual([
      'the witness holds two different checkpoints of chain berlin for 2026-03-06',
    ]);
  });

  it('lists the later days to append in chain order, and takes any line without keys to judge by', () => {
    const stored = [day('2026-03-08', 30), day('2026-03-06', 10), day('2026-03-07', 20)];
    const result = compareWithWitness([stored[1] as Checkpoint], stored);
    expect(result.newer.map((c) => c.day)).toEqual(['2026-03-07', '2026-03-08']);
    expect(result.matched).toBe(1);
  });
});

describe('the witness file', () => {
  it('reads nothing from a missing file, names a line that is no checkpoint, and ignores a torn last line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-witness-unit-'));
    const file = join(dir, 'w');
    expect(await readWitness(file)).toEqual({ checkpoints: [], problems: [] });
    const good = day('2026-03-06', 10);
    writeFileSync(file, `${JSON.stringify(good)}\n{"site":1}\n${JSON.stringify(good).slice(0, 20)}`);
    const reading = await readWitness(file);
    expect(reading.checkpoints).toEqual([good]);
    expect(reading.problems).toEqual(['witness line 2 is not a checkpoint: {"site":1}']);
  });

  it('appends after cutting a torn last line, owner-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-witness-unit-'));
    const file = join(dir, 'w');
    const a = day('2026-03-06', 10);
    const b = day('2026-03-07', 20);
    await appendWitness(file, [a]);
    writeFileSync(file, '{"torn', { flag: 'a' });
    await appendWitness(file, [b], new Date('2026-03-08T00:00:00Z'));
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1] as string)).toEqual({ ...b, witnessedAt: '2026-03-08T00:00:00.000Z' });
    expect((await readWitness(file)).checkpoints.map((c) => c.day)).toEqual(['2026-03-06', '2026-03-07']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is never a symlink, a FIFO or an oversized file: refused, and nothing it points to is touched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-witness-unit-'));
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'first line\nsecond line without a newline');
    const link = join(dir, 'link');
    symlinkSync(victim, link);
    await expect(readWitness(link)).rejects.toThrow(/is a symbolic link/);
    await expect(appendWitness(link, [day('2026-03-06', 10)])).rejects.toThrow(/is a symbolic link/);
    expect(readFileSync(victim, 'utf8')).toBe('first line\nsecond line without a newline');
    // A FIFO opens at once (non-blocking) and is refused: the event loop is never held.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readWitness(fifo)).rejects.toThrow(/is not a regular file/);
    await expect(readWitness('/dev/zero')).rejects.toThrow(/is not a regular file/);
    const big = join(dir, 'big');
    writeFileSync(big, '');
    truncateSync(big, MAX_WITNESS_BYTES + 1);
    await expect(readWitness(big)).rejects.toThrow(/more than the/);
  });
});
