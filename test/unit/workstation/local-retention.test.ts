import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';
import { rewriteJournal } from '../../../src/workstation/break-glass-journal.js';
import { LocalRetention } from '../../../src/workstation/local-retention.js';

const SECOND = 1000;
const DAY = 86_400_000;
const GRACE = 120 * SECOND;

describe('local retention on the workstation: nothing naming a user outlives its purpose', () => {
  let stateDir: string;
  let clock: FakeClock;
  let logs: Array<Record<string, unknown>>;
  const retention = () =>
    new LocalRetention({
      stateDir,
      graceMs: GRACE,
      retentionDays: 60,
      clock,
      log: createLogger({ level: 'debug', format: 'json', write: (line) => logs.push(JSON.parse(line)) }),
    });
  const put = (path: string, content: string) => {
    mkdirSync(join(stateDir, path, '..'), { recursive: true });
    writeFileSync(join(stateDir, path), content, { mode: 0o600 });
  };
  const there = (path: string) => existsSync(join(stateDir, path));
  const journal = () => readFileSync(join(stateDir, 'break-glass.log'), 'utf8');
  const errors = () => logs.filter((l) => l.level === 'error');

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-ws-retention-'));
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    logs = [];
  });

  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('removes a confirmed login once its grace has passed and keeps one still within it', () => {
    put('confirmed/ada.json', JSON.stringify({ at: clock.now() - GRACE }));
    put('confirmed/bob.json', JSON.stringify({ at: clock.now() - GRACE + 1 }));
    expect(retention().run()).toMatchObject({ confirmed: 1, failures: 0 });
    expect(there('confirmed/ada.json')).toBe(false);
    expect(there('confirmed/bob.json')).toBe(true);
  });

  it('removes an expired break-glass grant and keeps a valid one', () => {
    const grant = (user: string, until: number) => JSON.stringify({ user, reason: 'down', at: 0, until });
    put('break-glass/ada.json', grant('ada', clock.now()));
    put('break-glass/bob.json', grant('bob', clock.now() + 1));
    expect(retention().run()).toMatchObject({ grants: 1, failures: 0 });
    expect(there('break-glass/ada.json')).toBe(false);
    expect(there('break-glass/bob.json')).toBe(true);
  });

  it('drops journal lines older than retentionDays and keeps the newer ones byte for byte', () => {
    const old = clock.now() - 60 * DAY - 1;
    const fresh = clock.now() - 60 * DAY;
    const newer = [
      `{"event":"break-glass-granted","user":"bob","at":${fresh},"until":${fresh + 3_600_000},"reason":"Störung \\u00e9"}\n`,
      `{ "at" : ${fresh + 1},   "event": "break-glass-login", "user": "bob" }\n`,
      `{"event":"break-glass-report-refused","file":"${fresh + 2}-bob.json","status":409}\n`,
    ].join('');
    put(
      'break-glass.log',
      `{"event":"break-glass-granted","user":"ada","at":${old}}\n` +
        `{"event":"break-glass-report-refused","file":"${old}-ada.json","status":400}\n` +
        newer,
    );
    expect(retention().run()).toMatchObject({ journalLines: 2, failures: 0 });
    expect(journal()).toBe(newer);
    expect(statSync(join(stateDir, 'break-glass.log')).mode & 0o777).toBe(0o600);
    expect(readdirSync(stateDir)).toEqual(['break-glass.log']);
  });

  it('leaves the journal untouched when no line has expired', () => {
    const content = `{"event":"break-glass-login","user":"ada","at":${clock.now()}}\n`;
    put('break-glass.log', content);
    const before = statSync(join(stateDir, 'break-glass.log')).ino;
    expect(retention().run().journalLines).toBe(0);
    expect(statSync(join(stateDir, 'break-glass.log')).ino).toBe(before);
    expect(journal()).toBe(content);
  });

  it('drops an unreadable journal line written before an expired one, and keeps a torn last line', () => {
    const old = clock.now() - 61 * DAY;
    const kept = `{"event":"break-glass-login","user":"bob","at":${clock.now()}}\n{"event":"break-gl`;
    put('break-glass.log', `garbage naming ada\n{"event":"x","user":"ada","at":${old}}\n${kept}`);
    expect(retention().run()).toMatchObject({ journalLines: 2 });
    expect(journal()).toBe(kept);
  });

  it('keeps every undelivered report, an old one with an error naming no user, and the journal untrimmed meanwhile', () => {
    // A clock stepped forward (or a long outage) must not destroy the evidence of a break-glass
    // login central has not heard of.
    const old = clock.now() - 60 * DAY - 1;
    put(`reports/${old}-ada.json`, JSON.stringify({ user: 'ada', reason: 'down', outcome: 'granted' }));
    put(`reports/${clock.now() - 60 * DAY}-bob.json`, JSON.stringify({ user: 'bob' }));
    const oldLine = JSON.stringify({ event: 'break-glass-granted', user: 'ada', at: old });
    put('break-glass.log', `${oldLine}\n`);
    expect(retention().run()).toMatchObject({ undeliveredReports: 1, failures: 0, journalLines: 0 });
    expect(readdirSync(join(stateDir, 'reports')).sort()).toEqual(
      [`${old}-ada.json`, `${clock.now() - 60 * DAY}-bob.json`].sort(),
    );
    expect(errors()).toEqual([
      expect.objectContaining({
        msg: expect.stringContaining('has not reached central for longer than retentionDays'),
        reportAt: new Date(old).toISOString(),
      }),
    ]);
    expect(JSON.stringify(logs)).not.toContain('ada');
    expect(journal()).toBe(`${oldLine}\n`);
  });

  it('removes corrupt confirmed and grant files with a warning, and skips one it cannot read', () => {
    put('confirmed/ada.json', '{"at":');
    put('break-glass/ada.json', JSON.stringify({ user: 'ada' }));
    mkdirSync(join(stateDir, 'confirmed', 'bob.json')); // EISDIR when read
    expect(retention().run()).toMatchObject({ garbage: 2, failures: 1 });
    expect(there('confirmed/ada.json')).toBe(false);
    expect(there('break-glass/ada.json')).toBe(false);
    expect(there('confirmed/bob.json')).toBe(true);
    expect(logs.filter((l) => l.level === 'warn')).toHaveLength(2);
    expect(errors()).toEqual([expect.objectContaining({ code: 'EISDIR', where: 'confirmed' })]);
    expect(JSON.stringify(logs)).not.toMatch(/ada|bob/);
  });

  it('logs a state path that is not what it should be and goes on with the rest', () => {
    put('confirmed', 'a file where a directory belongs');
    mkdirSync(join(stateDir, 'break-glass.log'));
    put('break-glass/ada.json', JSON.stringify({ until: clock.now() - 1 }));
    let outcome: ReturnType<LocalRetention['run']> | undefined;
    expect(() => {
      outcome = retention().run();
    }).not.toThrow();
    expect(outcome).toMatchObject({ grants: 1, failures: 2 });
    expect(errors().map((l) => l.code)).toEqual(['ENOTDIR', 'EISDIR']);
  });

  it('leaves the journal as it was when the rewrite cannot be written', () => {
    const content = `{"event":"x","user":"ada","at":${clock.now() - 61 * DAY}}\n`;
    put('break-glass.log', content);
    // The temporary file's place is taken by a directory that cannot be removed.
    put(`break-glass.log.tmp-${process.pid}/blocker`, '');
    expect(retention().run()).toMatchObject({ journalLines: 0, failures: 1 });
    expect(journal()).toBe(content);
    expect(errors()).toEqual([expect.objectContaining({ where: 'journal' })]);
  });

  it('does not replace a journal appended to between its read and the rename', () => {
    const old = `{"event":"x","user":"ada","at":1}\n`;
    put('break-glass.log', old);
    const appended = `{"event":"break-glass-login","user":"bob","at":${clock.now()}}\n`;
    const result = rewriteJournal(stateDir, (lines) => {
      appendFileSync(join(stateDir, 'break-glass.log'), appended); // another process's check
      return lines.map(() => true);
    });
    expect(result).toBe('changed-meanwhile');
    expect(journal()).toBe(old + appended);
    expect(readdirSync(stateDir)).toEqual(['break-glass.log']);
  });

  it('removes a temporary file left by a writer that no longer runs, not one of a running process', () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    put(`break-glass.log.tmp-${gone}`, 'a copy of the journal');
    put(`lock-seen.json.tmp-${process.ppid}`, '{}');
    expect(retention().run()).toMatchObject({ tempFiles: 1 });
    expect(readdirSync(stateDir)).toEqual([`lock-seen.json.tmp-${process.ppid}`]);
  });
});
