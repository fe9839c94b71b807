import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/logger.js';
import { SEEN_FILE, SeenLockCommands } from '../../../src/workstation/seen-lock-commands.js';

const now = Date.UTC(2026, 5, 1, 12);
const HOUR = 3_600_000;
const keepMs = 8 * HOUR;
const id = (n: number) => `01900000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const issued = (at: number) => new Date(at).toISOString();

describe('the replay memory of the lock agent (lock-seen.json)', () => {
  let root: string;
  let stateDir: string;
  let logs: Array<{ level: string; msg: string }>;
  const memory = () =>
    new SeenLockCommands({
      stateDir,
      keepMs,
      log: createLogger({ level: 'info', format: 'json', write: (line) => logs.push(JSON.parse(line)) }),
    });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'idg-seen-'));
    stateDir = join(root, 'state');
    logs = [];
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('starts empty without a file and logs nothing', () => {
    const seen = memory();
    seen.load(now);
    expect(seen.has(id(1))).toBe(false);
    expect(logs).toEqual([]);
  });

  it('remembers a recorded command in a new instance, in a file only root can read', () => {
    memory().record([{ id: id(1), issuedAt: issued(now) }], now);
    const next = memory();
    next.load(now + HOUR);
    expect(next.has(id(1))).toBe(true);
    expect(next.has(id(2))).toBe(false);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, SEEN_FILE)).mode & 0o777).toBe(0o600);
  });

  it('forgets a command once it was issued more than keepMs ago', () => {
    const seen = memory();
    seen.record(
      [
        { id: id(1), issuedAt: issued(now - keepMs - 1) },
        { id: id(2), issuedAt: issued(now - keepMs) },
      ],
      now,
    );
    expect(seen.has(id(1))).toBe(false);
    expect(seen.has(id(2))).toBe(true);
    const later = memory();
    later.load(now + 1);
    expect(later.has(id(2))).toBe(false);
    expect(JSON.parse(readFileSync(join(stateDir, SEEN_FILE), 'utf8'))).toEqual({ v: 1, commands: {} });
  });

  it('logs a corrupt file as an error, starts without it and replaces it', () => {
    memory().record([{ id: id(1), issuedAt: issued(now) }], now);
    writeFileSync(join(stateDir, SEEN_FILE), '{"v":1,"commands":{"x"', { mode: 0o600 });
    const seen = memory();
    seen.load(now);
    expect(seen.has(id(1))).toBe(false);
    expect(logs).toEqual([
      expect.objectContaining({ level: 'error', msg: expect.stringContaining('file is replaced') }),
    ]);
    expect(JSON.parse(readFileSync(join(stateDir, SEEN_FILE), 'utf8'))).toEqual({ v: 1, commands: {} });
  });

  it('treats a file of the wrong shape as corrupt', () => {
    memory().record([], now);
    writeFileSync(join(stateDir, SEEN_FILE), JSON.stringify({ v: 1, commands: { [id(1)]: 'yesterday' } }));
    const seen = memory();
    seen.load(now);
    expect(seen.has(id(1))).toBe(false);
    expect(logs.map((l) => l.level)).toEqual(['error']);
  });
});
