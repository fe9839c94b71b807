import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { CentralClient, CentralReply } from '../../../src/workstation/central-client.js';
import { confirmedFile, endGrace, LoginGate } from '../../../src/workstation/login-gate.js';

const gateDefaults = { retentionDays: 60, log: silentLogger };

/** Central as a switch: answering with `answer`, or unreachable; every request is recorded. */
function fakeCentral() {
  const state = {
    reachable: true,
    answer: { allow: true } as unknown,
    posts: [] as Array<[string, unknown]>,
  };
  const client = {
    post: async (path: string, body: unknown): Promise<CentralReply> => {
      state.posts.push([path, body]);
      if (!state.reachable) return { reached: false, detail: 'connect ECONNREFUSED' };
      return { reached: true, status: 200, body: path === '/login-check' ? state.answer : { alarm: 1 } };
    },
  } as unknown as CentralClient;
  return { state, client };
}

describe('login gate: central decides, else a short grace, else closed', () => {
  let clock: FakeClock;
  let central: ReturnType<typeof fakeCentral>;
  let gate: LoginGate;
  let stateDir: string;

  beforeEach(() => {
    clock = new FakeClock();
    central = fakeCentral();
    stateDir = mkdtempSync(join(tmpdir(), 'idg-gate-'));
    gate = new LoginGate({ ...gateDefaults, client: central.client, clock, stateDir, graceMs: 120_000 });
  });

  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('follows central whenever it answers', async () => {
    expect(await gate.check('ada')).toEqual({ allow: true, via: 'central' });
    central.state.answer = { allow: false, reason: 'other-room' };
    expect(await gate.check('ada')).toEqual({ allow: false, reason: 'other-room' });
  });

  it('treats central that cannot vouch for presence like central unreachable: grace, then closed', async () => {
    // A dashboard instance that does not hear the others answers presence-unknown.
    expect(await gate.check('ada')).toEqual({ allow: true, via: 'central' });
    central.state.answer = { allow: false, reason: 'presence-unknown' };
    clock.advance(60_000);
    expect(await gate.check('ada')).toMatchObject({
      allow: true,
      via: 'grace',
      detail: expect.stringContaining('central cannot vouch for presence now'),
    });
    // The grace was kept, not forgotten as after a denial; it runs out as usual.
    clock.advance(60_000);
    expect(await gate.check('ada')).toMatchObject({ allow: false, reason: 'presence-unknown' });
    expect(await gate.check('bob')).toMatchObject({ allow: false, reason: 'presence-unknown' });
  });

  it('denies when central throttles the workstation, says why, and gives no grace meanwhile', async () => {
    expect(await gate.check('ada')).toEqual({ allow: true, via: 'central' });
    central.state.answer = { allow: false, reason: 'throttled' };
    expect(await gate.check('ada')).toEqual({
      allow: false,
      reason: 'throttled',
      detail: expect.stringContaining('far too many in a short time'),
    });
    // Central answered: its denial ends the grace like any other, however the network fares next.
    central.state.reachable = false;
    expect(await gate.check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
  });

  it('allows a user central allowed within the grace, and denies once the grace has passed', async () => {
    await gate.check('ada');
    central.state.reachable = false;
    clock.advance(119_000);
    expect(await gate.check('ada')).toMatchObject({ allow: true, via: 'grace' });
    clock.advance(1_000);
    expect(await gate.check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
  });

  it('gives no grace to another user, nor after a denial from central', async () => {
    await gate.check('ada');
    central.state.answer = { allow: false, reason: 'not-present' };
    await gate.check('ada');
    central.state.reachable = false;
    expect(await gate.check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    expect(await gate.check('bob')).toMatchObject({ allow: false, reason: 'central-unreachable' });
  });

  it('refuses a malformed user name without asking central', async () => {
    expect(await gate.check('../root')).toMatchObject({ allow: false, reason: 'bad-request' });
    expect(central.state.posts).toEqual([]);
  });

  it('refuses break-glass when it is not configured, and the sample code always', async () => {
    await expect(gate.breakGlass('ada', 'x', 'dashboard down')).rejects.toThrow(/not configured/);
    const withCode = new LoginGate({
      ...gateDefaults,
      client: central.client,
      clock,
      stateDir,
      graceMs: 0,
      breakGlass: {
        codeSha256: '1df4b07d05b9b3b1115b4b6b22af319a2f99564a2fa2573a34896063c7513c10',
        minutes: 30,
      },
    });
    await expect(withCode.breakGlass('ada', 'replace-me', 'dashboard down')).rejects.toThrow(
      /sample break-glass code/,
    );
  });

  it('lets a break-glass grant expire after its minutes and journals its use', async () => {
    const code = 'sealed-4711';
    const { createHash } = await import('node:crypto');
    const withCode = new LoginGate({
      ...gateDefaults,
      client: central.client,
      clock,
      stateDir,
      graceMs: 0,
      breakGlass: { codeSha256: createHash('sha256').update(code).digest('hex'), minutes: 30 },
    });
    central.state.reachable = false;
    expect(await withCode.breakGlass('ada', code, 'dashboard down')).toMatchObject({ reported: false });
    expect(await withCode.check('ada')).toMatchObject({ allow: true, via: 'break-glass' });
    clock.advance(30 * 60_000);
    expect(await withCode.check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    const journal = readFileSync(join(stateDir, 'break-glass.log'), 'utf8').trim().split('\n');
    expect(journal.map((line) => JSON.parse(line).event)).toEqual([
      'break-glass-granted',
      'break-glass-login',
    ]);
    central.state.reachable = true;
    expect(await withCode.flushReports()).toBe(true);
    // One attempt while unreachable, one delivery; nothing is left to send afterwards.
    expect(central.state.posts.filter(([path]) => path === '/break-glass')).toHaveLength(2);
    await withCode.flushReports();
    expect(central.state.posts.filter(([path]) => path === '/break-glass')).toHaveLength(2);
  });

  it('ends the grace of one user, or of all, and makes a path of valid user names only', async () => {
    expect(endGrace(stateDir, 'all')).toBe(0);
    expect(endGrace(stateDir, { user: 'ada' })).toBe(0);
    for (const user of ['ada', 'bob', 'cy']) await gate.check(user);
    expect(endGrace(stateDir, { user: 'ada' })).toBe(1);
    expect(endGrace(stateDir, 'all')).toBe(2);
    central.state.reachable = false;
    expect(await gate.check('bob')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    expect(() => confirmedFile(stateDir, '../etc/passwd')).toThrow(/not a valid user name/);
  });
});
