import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { CentralClient, CentralReply } from '../../../src/workstation/central-client.js';
import { confirmedFile, LoginGate } from '../../../src/workstation/login-gate.js';

const CODE = 'sealed-envelope-code';
const HOUR = 3_600_000;

/**
 * What the login gate does not let through, whatever the clock or the state directory says:
 * files dated ahead of the clock, grants that are not what a grant looks like, answers from
 * central that may change later, and a disk that refuses writes.
 */
describe('login gate: clocks, forged files, central answers, failing disks', () => {
  let clock: FakeClock;
  let stateDir: string;
  let status: number | 'down';
  let posts: string[];
  const client = {
    post: async (path: string): Promise<CentralReply> => {
      posts.push(path);
      if (status === 'down') return { reached: false, detail: 'connect ECONNREFUSED' };
      return { reached: true, status, body: path === '/login-check' ? { allow: true } : { alarm: 1 } };
    },
  } as unknown as CentralClient;
  const gate = () =>
    new LoginGate({
      client,
      clock,
      stateDir,
      graceMs: 120_000,
      retentionDays: 60,
      breakGlass: { codeSha256: createHash('sha256').update(CODE).digest('hex'), minutes: 30 },
      log: silentLogger,
    });
  const put = (relative: string, value: unknown) => {
    mkdirSync(join(stateDir, relative, '..'), { recursive: true });
    writeFileSync(join(stateDir, relative), JSON.stringify(value));
  };

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    stateDir = mkdtempSync(join(tmpdir(), 'idg-gate-hard-'));
    status = 200;
    posts = [];
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('gives no grace from an allow dated ahead of the clock (a clock set back), and retention removes it', async () => {
    put('confirmed/ada.json', { at: clock.now() + 24 * HOUR });
    status = 'down';
    expect(await gate().check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    expect(readdirSync(join(stateDir, 'confirmed'))).toEqual([]);
  });

  it('honours a grant only for its own user, begun by now, running now and no longer than configured', async () => {
    status = 'down';
    const now = clock.now();
    const cases: Array<[string, unknown]> = [
      ['another user', { user: 'bob', reason: 'r', at: now - 1000, until: now + 60_000 }],
      ['dated ahead', { user: 'ada', reason: 'r', at: now + 60 * 60_000, until: now + 61 * 60_000 }],
      ['longer than configured', { user: 'ada', reason: 'r', at: now - 1000, until: now + 24 * HOUR }],
      ['a string for a time', { user: 'ada', reason: 'r', at: now - 1000, until: `${now + 60_000}` }],
    ];
    for (const [what, grant] of cases) {
      put('break-glass/ada.json', grant);
      expect(await gate().check('ada'), what).toMatchObject({ allow: false, reason: 'central-unreachable' });
    }
    put('break-glass/ada.json', { user: 'ada', reason: 'r', at: now - 1000, until: now + 29 * 60_000 });
    expect(await gate().check('ada')).toMatchObject({ allow: true, via: 'break-glass' });
  });

  it('keeps a break-glass report while central refuses the workstation (401) or is busy (429), and sends it later', async () => {
    status = 'down';
    await expect(gate().breakGlass('ada', CODE, 'central is down, fire drill')).resolves.toMatchObject({
      reported: false,
    });
    for (const answer of [401, 429, 302]) {
      status = answer;
      await gate().check('ada');
      expect(readdirSync(join(stateDir, 'reports')), String(answer)).toHaveLength(1);
    }
    status = 200;
    await gate().check('ada');
    expect(readdirSync(join(stateDir, 'reports'))).toEqual([]);
    expect(posts.filter((p) => p === '/break-glass').length).toBe(5);
  });

  it("lets central's allow stand when the disk refuses to keep it or to journal", async () => {
    // A file where the folders belong: every write there fails.
    writeFileSync(join(stateDir, 'confirmed'), 'not a folder');
    expect(await gate().check('ada')).toEqual({ allow: true, via: 'central' });
    writeFileSync(join(stateDir, 'reports'), 'not a folder');
    status = 'down';
    await expect(gate().breakGlass('ada', 'wrong code', 'trying the wrong code')).rejects.toMatchObject({
      code: 'IDG_BREAK_GLASS_CODE',
    });
  });

  it('writes allows whole: no temporary file is left beside them', async () => {
    expect(await gate().check('ada')).toEqual({ allow: true, via: 'central' });
    expect(readdirSync(join(stateDir, 'confirmed'))).toEqual(['ada.json']);
    expect(confirmedFile(stateDir, 'ada')).toContain(join('confirmed', 'ada.json'));
  });
});
