import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';
import type { CentralClient, CentralReply } from '../../../src/workstation/central-client.js';
import { LoginGate } from '../../../src/workstation/login-gate.js';

/** Central as a switch, answering `allow` to every check; every request is recorded. */
function fakeCentral() {
  const state = { reachable: true, posts: [] as Array<[string, unknown]> };
  const client = {
    post: async (path: string, body: unknown): Promise<CentralReply> => {
      state.posts.push([path, body]);
      if (!state.reachable) return { reached: false, detail: 'connect ECONNREFUSED' };
      return { reached: true, status: 200, body: path === '/login-check' ? { allow: true } : { alarm: 1 } };
    },
  } as unknown as CentralClient;
  return { state, client };
}

describe('login gate: retention runs with every check and never changes its verdict', () => {
  let root: string;
  let clock: FakeClock;
  let logs: Array<Record<string, unknown>>;
  const gate = (stateDir: string, central = fakeCentral()) =>
    new LoginGate({
      client: central.client,
      clock,
      stateDir,
      graceMs: 120_000,
      retentionDays: 60,
      log: createLogger({ level: 'info', format: 'json', write: (line) => logs.push(JSON.parse(line)) }),
    });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'idg-gate-retention-'));
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
    logs = [];
  });

  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("removes other users' stale traces after a check", async () => {
    const stateDir = join(root, 'state');
    mkdirSync(join(stateDir, 'confirmed'), { recursive: true });
    mkdirSync(join(stateDir, 'break-glass'), { recursive: true });
    writeFileSync(join(stateDir, 'confirmed', 'bob.json'), JSON.stringify({ at: clock.now() - 120_000 }));
    writeFileSync(join(stateDir, 'break-glass', 'bob.json'), JSON.stringify({ until: clock.now() - 1 }));
    expect(await gate(stateDir).check('ada')).toEqual({ allow: true, via: 'central' });
    expect(readdirSync(join(stateDir, 'confirmed'))).toEqual(['ada.json']);
    expect(readdirSync(join(stateDir, 'break-glass'))).toEqual([]);
  });

  it('gives the same verdicts when every retention step fails', async () => {
    const healthy = join(root, 'healthy');
    const broken = join(root, 'broken');
    // Files where directories belong and a directory where the journal belongs: root is not
    // stopped by permissions, but by these.
    mkdirSync(join(broken, 'break-glass.log'), { recursive: true });
    writeFileSync(join(broken, 'break-glass'), 'not a directory');
    writeFileSync(join(broken, 'reports'), 'not a directory');
    const verdicts = async (stateDir: string) => {
      clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
      const central = fakeCentral();
      const subject = gate(stateDir, central);
      const seen = [await subject.check('ada')];
      central.state.reachable = false;
      clock.advance(60_000);
      seen.push(await subject.check('ada'), await subject.check('bob'));
      clock.advance(60_000);
      seen.push(await subject.check('ada'));
      return seen;
    };
    const expected = await verdicts(healthy);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(expected.map((v) => (v.allow ? v.via : v.reason))).toEqual([
      'central',
      'grace',
      'central-unreachable',
      'central-unreachable',
    ]);
    expect(await verdicts(broken)).toEqual(expected);
    expect(logs.filter((l) => l.level === 'error').length).toBeGreaterThan(0);
  });

  it('sends the readable reports and removes a corrupt one, without failing the check', async () => {
    const stateDir = join(root, 'state');
    mkdirSync(join(stateDir, 'reports'), { recursive: true });
    writeFileSync(join(stateDir, 'reports', '1-ada.json'), '{"user":"ada","reas');
    writeFileSync(join(stateDir, 'reports', '2-bob.json'), JSON.stringify({ user: 'bob' }));
    const central = fakeCentral();
    expect(await gate(stateDir, central).check('cy')).toEqual({ allow: true, via: 'central' });
    expect(central.state.posts).toEqual([
      ['/login-check', { user: 'cy' }],
      ['/break-glass', { user: 'bob' }],
    ]);
    expect(existsSync(join(stateDir, 'reports', '1-ada.json'))).toBe(false);
    expect(logs).toEqual([
      expect.objectContaining({ level: 'error', msg: expect.stringContaining('corrupt') }),
    ]);
  });
});
