import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger, type Logger, silentLogger } from '../../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';
import { signLockCommand, type WorkstationCommand } from '../../../src/protocol/workstation-commands.js';
import type { CentralClient, CentralReply } from '../../../src/workstation/central-client.js';
import { runLockProgram } from '../../../src/workstation/lock-agent.js';
import { LockHandler, type LockOutcome, type LockResult } from '../../../src/workstation/lock-handler.js';
import { confirmedFile, LoginGate } from '../../../src/workstation/login-gate.js';
import { SEEN_FILE, SeenLockCommands } from '../../../src/workstation/seen-lock-commands.js';

const gateDefaults = { retentionDays: 60, log: silentLogger };

const central = generateSigningKeyPair();
const self = { site: 'hq', workstation: 'ws-1.ident' };
const issuedAt = Date.UTC(2026, 5, 1, 12);
const HOUR = 3_600_000;
const LATE_MS = 8 * HOUR;
const id = (n: number) => `01900000-0000-7000-8000-${String(n).padStart(12, '0')}`;

function lockCommand(n: number, user = 'ada', at = issuedAt): WorkstationCommand {
  return signLockCommand(self, { user, reason: 'exit' }, id(n), at, 60_000, central.privateKey);
}
const payload = (command: WorkstationCommand) => Buffer.from(JSON.stringify(command));

/** Central as a switch: answering 200, or unreachable; every request is recorded. */
function fakeCentral() {
  const state = { reachable: true, posts: [] as Array<[string, unknown]> };
  const client = {
    post: async (path: string, body: unknown): Promise<CentralReply> => {
      state.posts.push([path, body]);
      if (!state.reachable) return { reached: false, detail: 'connect ECONNREFUSED' };
      return {
        reached: true,
        status: 200,
        body: path === '/login-check' ? { allow: true } : { recorded: true },
      };
    },
  } as unknown as CentralClient;
  return { state, client };
}

describe('lock handler: late locks, replay memory, coalescing, end of grace', () => {
  let dir: string;
  let stateDir: string;
  let lockedFile: string;
  let clock: FakeClock;
  let centralFake: ReturnType<typeof fakeCentral>;
  let logs: Array<{ level: string; msg: string }>;
  let log: Logger;

  /** The lock program: a small script that appends a line to a file (no shell). */
  const lockProgram = () =>
    runLockProgram(
      [process.execPath, '-e', "require('fs').appendFileSync(process.argv[1], 'locked\\n')", lockedFile],
      10_000,
    );
  const runs = () => (existsSync(lockedFile) ? readFileSync(lockedFile, 'utf8').split('\n').length - 1 : 0);

  /** A handler as the agent builds one at start: its replay memory read from the state directory. */
  function agent(lock: () => Promise<LockOutcome> = lockProgram) {
    const results: LockResult[] = [];
    const seen = new SeenLockCommands({ stateDir, keepMs: LATE_MS + 330_000, log });
    seen.load(clock.now());
    const handler = new LockHandler({
      ...self,
      centralKey: central.publicKey,
      lateMs: LATE_MS,
      seen,
      stateDir,
      lock,
      central: centralFake.client,
      clock,
      log,
      onResult: (result) => results.push(result),
    });
    return { handler, results };
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'idg-lock-handler-'));
    stateDir = join(dir, 'state');
    lockedFile = join(dir, 'locked');
    clock = new FakeClock(issuedAt + 1000);
    centralFake = fakeCentral();
    logs = [];
    log = createLogger({ level: 'info', format: 'json', write: (line) => logs.push(JSON.parse(line)) });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a lock within its validity and reports ok', async () => {
    const { handler, results } = agent();
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(1);
    expect(results).toEqual([{ command: id(1), status: 'ok', reported: true }]);
    expect(centralFake.state.posts).toEqual([['/lock-result', { command: id(1), status: 'ok' }]]);
  });

  it('runs a lock that arrives after its expiry but within lateMs, and says it was late', async () => {
    clock.advance(2 * HOUR);
    const { handler, results } = agent();
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(1);
    expect(results).toEqual([
      {
        command: id(1),
        status: 'ok',
        reason: 'late: issued 2026-06-01T12:00:00.000Z, expired 2026-06-01T12:01:00.000Z',
        reported: true,
      },
    ]);
  });

  it('rejects a lock issued more than lateMs ago and runs nothing', async () => {
    clock.advance(LATE_MS);
    const { handler, results } = agent();
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(0);
    expect(results).toEqual([
      { command: id(1), status: 'rejected', reason: expect.stringMatching(/^expired: /), reported: true },
    ]);
  });

  it('refuses a command replayed to a new agent after a restart, from lock-seen.json', async () => {
    const first = agent();
    first.handler.receive(payload(lockCommand(1)));
    await first.handler.settled();
    clock.advance(HOUR);
    const second = agent();
    second.handler.receive(payload(lockCommand(1)));
    await second.handler.settled();
    expect(runs()).toBe(1);
    expect(second.results).toEqual([
      { command: id(1), status: 'rejected', reason: 'replayed', reported: true },
    ]);
  });

  it('remembers the command before the lock program runs', async () => {
    let remembered: unknown;
    const { handler } = agent(async () => {
      remembered = JSON.parse(readFileSync(join(stateDir, SEEN_FILE), 'utf8'));
      return { status: 'ok' };
    });
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(remembered).toEqual({ v: 1, commands: { [id(1)]: '2026-06-01T12:00:00.000Z' } });
  });

  it('locks after a corrupt replay memory: logged as an error, the file replaced', async () => {
    const first = agent();
    first.handler.receive(payload(lockCommand(1)));
    await first.handler.settled();
    writeFileSync(join(stateDir, SEEN_FILE), 'not json');
    const second = agent();
    expect(logs.filter((l) => l.level === 'error')).toHaveLength(1);
    // What was forgotten only locks again: the safe direction.
    second.handler.receive(payload(lockCommand(1)));
    await second.handler.settled();
    expect(runs()).toBe(2);
    expect(second.results).toEqual([{ command: id(1), status: 'ok', reported: true }]);
    expect(JSON.parse(readFileSync(join(stateDir, SEEN_FILE), 'utf8')).commands).toHaveProperty(id(1));
  });

  it('runs the lock program once for every command waiting, and reports each with that outcome', async () => {
    clock.advance(HOUR);
    const { handler, results } = agent();
    for (const n of [1, 2, 3]) handler.receive(payload(lockCommand(n, 'ada', issuedAt + n * 30_000)));
    await handler.settled();
    expect(runs()).toBe(1);
    expect(results.map((r) => [r.command, r.status])).toEqual([
      [id(1), 'ok'],
      [id(2), 'ok'],
      [id(3), 'ok'],
    ]);
    for (const result of results) {
      expect(result.reason).toMatch(/^late: issued .*; coalesced: one lock run for 3 commands, first /);
      expect(result.reason).toContain(id(1));
    }
  });

  it('reports the one failed run for every command it was to satisfy', async () => {
    const { handler, results } = agent(() =>
      runLockProgram([process.execPath, '-e', 'process.exit(3)'], 10_000),
    );
    handler.receive(payload(lockCommand(1)));
    handler.receive(payload(lockCommand(2)));
    await handler.settled();
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(results[1]?.reason).toMatch(/^coalesced: one lock run for 2 commands, first .*; Command failed/);
  });

  it('runs again for a command received while the lock program was running', async () => {
    let calls = 0;
    const { handler, results } = agent(() => {
      calls += 1;
      if (calls === 1) handler.receive(payload(lockCommand(2)));
      return lockProgram();
    });
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(2);
    expect(results).toEqual([
      { command: id(1), status: 'ok', reported: true },
      { command: id(2), status: 'ok', reported: true },
    ]);
  });

  it('refuses the same command twice in one batch and rejects a forged one without running for it', async () => {
    const forger = generateSigningKeyPair();
    const forged = signLockCommand(
      self,
      { user: 'ada', reason: 'exit' },
      id(9),
      issuedAt,
      60_000,
      forger.privateKey,
    );
    const { handler, results } = agent();
    handler.receive(payload(forged));
    handler.receive(payload(lockCommand(1)));
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(1);
    expect(results).toEqual([
      { command: id(9), status: 'rejected', reason: expect.stringMatching(/^bad-signature/), reported: true },
      { command: id(1), status: 'ok', reported: true },
      { command: id(1), status: 'rejected', reason: 'replayed', reported: true },
    ]);
  });

  it('runs nothing for a batch of refusals only', async () => {
    const { handler, results } = agent();
    handler.receive(Buffer.from('{'));
    await handler.settled();
    expect(runs()).toBe(0);
    expect(results).toEqual([
      { status: 'rejected', reason: expect.stringMatching(/^bad-command/), reported: true },
    ]);
  });

  it('still locks when central is unreachable, and says the result was not recorded', async () => {
    centralFake.state.reachable = false;
    const { handler, results } = agent();
    handler.receive(payload(lockCommand(1)));
    await handler.settled();
    expect(runs()).toBe(1);
    expect(results).toEqual([{ command: id(1), status: 'ok', reported: false }]);
  });

  describe('the end of the login grace', () => {
    const gate = () =>
      new LoginGate({ ...gateDefaults, client: centralFake.client, clock, stateDir, graceMs: 120_000 });

    it('ends every user’s grace at any lock: central counts its ok for older locks of others too', async () => {
      expect(await gate().check('ada')).toEqual({ allow: true, via: 'central' });
      expect(await gate().check('bob')).toEqual({ allow: true, via: 'central' });
      const { handler } = agent();
      handler.receive(payload(lockCommand(1, 'ada')));
      await handler.settled();
      expect(existsSync(confirmedFile(stateDir, 'ada'))).toBe(false);
      centralFake.state.reachable = false;
      expect(await gate().check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
      expect(await gate().check('bob')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    });

    it('ends every user’s grace for a lock naming the erased user', async () => {
      expect(await gate().check('ada')).toEqual({ allow: true, via: 'central' });
      expect(await gate().check('bob')).toEqual({ allow: true, via: 'central' });
      const { handler } = agent();
      handler.receive(payload(lockCommand(1, 'erased')));
      await handler.settled();
      centralFake.state.reachable = false;
      expect(await gate().check('ada')).toMatchObject({ allow: false, reason: 'central-unreachable' });
      expect(await gate().check('bob')).toMatchObject({ allow: false, reason: 'central-unreachable' });
    });

    it('ends the grace before the lock program runs', async () => {
      expect(await gate().check('ada')).toEqual({ allow: true, via: 'central' });
      let graceLeft: boolean | undefined;
      const { handler } = agent(async () => {
        graceLeft = existsSync(confirmedFile(stateDir, 'ada'));
        return { status: 'ok' };
      });
      handler.receive(payload(lockCommand(1, 'ada')));
      await handler.settled();
      expect(graceLeft).toBe(false);
    });
  });
});
