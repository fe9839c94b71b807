import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { appendJournal, withJournalLock } from '../../../src/workstation/break-glass-journal.js';
import { eraseLocalUser } from '../../../src/workstation/local-erasure.js';

/**
 * Appenders (login checks) and rewriters (retention, erasure) run in separate processes and share
 * `break-glass.log.lock`: a rewrite cannot drop an append made during it, nor undo an erasure.
 */
describe('the break-glass journal lock', () => {
  let stateDir: string;
  const lock = () => join(stateDir, 'break-glass.log.lock');
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-jlock-'));
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('is held during the work and released after it, also when the work throws', () => {
    let during: string | undefined;
    withJournalLock(stateDir, () => {
      during = readFileSync(lock(), 'utf8');
    });
    expect(during).toBe(String(process.pid));
    expect(existsSync(lock())).toBe(false);
    expect(() =>
      withJournalLock(stateDir, () => {
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(existsSync(lock())).toBe(false);
  });

  it('takes over a lock whose process is gone', () => {
    writeFileSync(lock(), '2147483646');
    appendJournal(stateDir, { event: 'break-glass-login', user: 'ada', at: 1 });
    expect(readFileSync(join(stateDir, 'break-glass.log'), 'utf8')).toContain('"ada"');
    expect(existsSync(lock())).toBe(false);
  });

  it("waits for a live holder, then goes on without it rather than stop every check, leaving the holder's lock", () => {
    writeFileSync(lock(), String(process.pid));
    let ran = false;
    withJournalLock(
      stateDir,
      () => {
        ran = true;
      },
      30,
    );
    expect(ran).toBe(true);
    expect(readFileSync(lock(), 'utf8')).toBe(String(process.pid));
  });

  it('lets an erasure remove the copies a crashed rewrite left, which hold every user', () => {
    writeFileSync(join(stateDir, 'break-glass.log'), '{"event":"break-glass-login","user":"ada","at":1}\n');
    writeFileSync(join(stateDir, 'break-glass.log.tmp-2147483646'), '{"user":"ada","at":1}\n');
    expect(eraseLocalUser(stateDir, 'ada', new FakeClock()).journalLines).toBe(1);
    expect(readdirSync(stateDir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(readFileSync(join(stateDir, 'break-glass.log'), 'utf8')).not.toContain('"ada"');
  });
});
