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
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { eraseLocalUser } from '../../../src/workstation/local-erasure.js';

describe('erasing a user on the workstation (identgate workstation erase)', () => {
  let stateDir: string;
  const clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
  const at = clock.now() - 3_600_000;
  const put = (path: string, content: string) => {
    mkdirSync(join(stateDir, path, '..'), { recursive: true });
    writeFileSync(join(stateDir, path), content, { mode: 0o600 });
  };
  const journalLines = () => readFileSync(join(stateDir, 'break-glass.log'), 'utf8').split('\n');

  /** Every kind of trace, for `user`. */
  function traces(user: string, offset: number): string[] {
    put(`confirmed/${user}.json`, JSON.stringify({ at }));
    put(`break-glass/${user}.json`, JSON.stringify({ user, reason: 'down', at, until: at + 3_600_000 }));
    put(`reports/${at + offset}-${user}.json`, JSON.stringify({ user, reason: 'down', outcome: 'granted' }));
    return [
      JSON.stringify({ event: 'break-glass-granted', user, at: at + offset, reason: 'down' }),
      JSON.stringify({
        event: 'break-glass-report-refused',
        file: `${at + offset}-${user}.json`,
        status: 400,
      }),
    ];
  }

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-ws-erase-'));
  });

  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it("removes every trace of that user, counts them, and leaves others' byte for byte", () => {
    const ada = traces('ada', 0);
    // Names that contain "ada" belong to other people.
    const others = [...traces('ada-2', 1), ...traces('adam', 2)];
    put('break-glass.log', `${ada[0]}\n${others.join('\n')}\n${ada[1]}\n`);

    expect(eraseLocalUser(stateDir, 'ada', clock)).toEqual({
      confirmed: 1,
      grants: 1,
      journalLines: 2,
      reports: 1,
    });

    expect(readdirSync(join(stateDir, 'confirmed')).sort()).toEqual(['ada-2.json', 'adam.json']);
    expect(readdirSync(join(stateDir, 'break-glass')).sort()).toEqual(['ada-2.json', 'adam.json']);
    expect(readdirSync(join(stateDir, 'reports')).sort()).toEqual([
      `${at + 1}-ada-2.json`,
      `${at + 2}-adam.json`,
    ]);
    const lines = journalLines();
    expect(lines.slice(0, 4)).toEqual(others);
    // One line records that an erasure happened, without whose.
    expect(JSON.parse(lines[4] as string)).toEqual({
      event: 'local-erasure',
      at: clock.now(),
      confirmed: 1,
      grants: 1,
      journalLines: 2,
      reports: 1,
    });
    expect(lines.slice(5)).toEqual(['']);
    expect(lines.join('\n')).not.toMatch(/"ada"|-ada\.json/);
  });

  it('takes out a journal line it cannot read when it holds the name', () => {
    put('break-glass.log', '{"event":"break-glass-login","user":"ada","at":\n{"user":"bob","at":1}\n');
    expect(eraseLocalUser(stateDir, 'ada', clock).journalLines).toBe(1);
    expect(journalLines()[0]).toBe('{"user":"bob","at":1}');
  });

  it('leaves a torn line about another user whose name ends in this one (agent-bob is not bob)', () => {
    put(
      'break-glass.log',
      '{"event":"break-glass-report-refused","file":"1700000000000-agent-bob.json","at":\n{"event":"x","file":"1700000000000-bob.json","at":\n',
    );
    expect(eraseLocalUser(stateDir, 'bob', clock).journalLines).toBe(1);
    expect(journalLines()[0]).toContain('agent-bob.json');
  });

  it('counts nothing for a user without traces', () => {
    traces('bob', 0);
    expect(eraseLocalUser(stateDir, 'ada', clock)).toEqual({
      confirmed: 0,
      grants: 0,
      journalLines: 0,
      reports: 0,
    });
    expect(existsSync(join(stateDir, 'confirmed', 'bob.json'))).toBe(true);
  });

  it('refuses a name that is not a user name, touching nothing', () => {
    put('confirmed/ada.json', '{}');
    expect(() => eraseLocalUser(stateDir, '../confirmed/ada', clock)).toThrow(/not a valid user name/);
    expect(existsSync(join(stateDir, 'confirmed', 'ada.json'))).toBe(true);
  });

  it('fails loudly when a trace cannot be removed', () => {
    mkdirSync(join(stateDir, 'confirmed', 'ada.json', 'x'), { recursive: true });
    expect(() => eraseLocalUser(stateDir, 'ada', clock)).toThrow();
  });
});
