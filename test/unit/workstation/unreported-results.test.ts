import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';
import { signLockCommand } from '../../../src/protocol/workstation-commands.js';
import type { CentralClient, CentralReply } from '../../../src/workstation/central-client.js';
import { LockHandler } from '../../../src/workstation/lock-handler.js';
import { SeenLockCommands } from '../../../src/workstation/seen-lock-commands.js';
import { RESULTS_DIR, UnreportedResults } from '../../../src/workstation/unreported-results.js';

const central = generateSigningKeyPair();
const self = { site: 'hq', workstation: 'ws-1.ident' };
const NOW = Date.UTC(2026, 5, 1, 12);
const id = (n: number) => `01900000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const command = (n: number) =>
  Buffer.from(
    JSON.stringify(
      signLockCommand(self, { user: 'ada', reason: 'exit' }, id(n), NOW, 60_000, central.privateKey),
    ),
  );

/**
 * Lock results central did not take are audit evidence and end its resends: kept on disk, sent
 * again in order before the next result and at every heartbeat, dropped when central refuses them
 * or after their keeping time.
 */
describe('lock results central did not take', () => {
  let stateDir: string;
  let clock: FakeClock;
  let answer: 'ok' | 'down' | 'error' | 'refuse';
  let posts: Array<{ command?: string; status: string }>;
  const client = {
    post: async (_path: string, body: { command?: string; status: string }): Promise<CentralReply> => {
      if (answer === 'down') return { reached: false, detail: 'connect ECONNREFUSED' };
      posts.push(body);
      const status = answer === 'ok' ? 200 : answer === 'error' ? 503 : 400;
      return { reached: true, status, body: {} };
    },
  } as unknown as CentralClient;

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-results-'));
    clock = new FakeClock(NOW);
    answer = 'ok';
    posts = [];
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  const kept = () => {
    try {
      return readdirSync(join(stateDir, RESULTS_DIR)).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
  };
  const store = (keepMs = 24 * 3_600_000) =>
    new UnreportedResults({ stateDir, keepMs, clock, log: silentLogger });
  const handler = (unreported: UnreportedResults) =>
    new LockHandler({
      ...self,
      centralKey: central.publicKey,
      lateMs: 0,
      seen: new SeenLockCommands({ stateDir, keepMs: 3_600_000, log: silentLogger }),
      stateDir,
      lock: async () => ({ status: 'ok' }),
      central: client,
      clock,
      log: silentLogger,
      unreported,
    });

  it('keeps the results central did not hear and sends them, in order, before the next one', async () => {
    const lock = handler(store());
    answer = 'down';
    lock.receive(command(1));
    await lock.settled();
    clock.advance(1000);
    lock.receive(command(2));
    await lock.settled();
    expect(kept()).toHaveLength(2);
    const [name] = kept();
    expect(readdirSync(join(stateDir, RESULTS_DIR), { withFileTypes: true })[0]?.isFile()).toBe(true);
    expect(name).toMatch(/^\d+-\d+\.json$/);
    answer = 'ok';
    clock.advance(1000);
    lock.receive(command(3));
    await lock.settled();
    expect(posts.map((p) => p.command)).toEqual([id(1), id(2), id(3)]);
    expect(posts.every((p) => p.status === 'ok')).toBe(true);
    expect(kept()).toEqual([]);
  });

  it('sends them at a heartbeat, keeps them while central fails, and drops those central refuses', async () => {
    const lock = handler(store());
    answer = 'error';
    lock.receive(command(1));
    await lock.settled();
    expect(kept()).toHaveLength(1);
    await lock.flushUnreported();
    expect(kept()).toHaveLength(1);
    answer = 'refuse';
    await lock.flushUnreported();
    expect(kept()).toEqual([]);
    // A refusal of the result itself is not kept: it would be refused again.
    lock.receive(command(2));
    await lock.settled();
    expect(kept()).toEqual([]);
  });

  it('drops a result kept longer than its keeping time, and an unreadable file, without sending them', async () => {
    const results = store(60_000);
    results.keep({ command: id(1), status: 'ok' });
    writeFileSync(join(stateDir, RESULTS_DIR, `${NOW}-99.json`), '{not json');
    clock.advance(61_000);
    expect(await results.flush(client.post.bind(client) as never)).toBe(0);
    expect(posts).toEqual([]);
    expect(kept()).toEqual([]);
  });
});
