import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/lib/clock.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import type { CentralClient } from '../../src/workstation/central-client.js';
import { LockAgent } from '../../src/workstation/lock-agent.js';
import { mqttUrl, testLogger, uniqueSite } from '../helpers/services.js';

const HOUR = 3_600_000;

describe('workstation agent: local retention at start and every hour', () => {
  let stateDir: string;
  let clock: FakeClock;
  let agent: LockAgent | undefined;
  const confirmed = (user: string, at: number) =>
    writeFileSync(join(stateDir, 'confirmed', `${user}.json`), JSON.stringify({ at }));
  const users = () => readdirSync(join(stateDir, 'confirmed')).sort();

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'idg-agent-retention-'));
    mkdirSync(join(stateDir, 'confirmed'));
    clock = new FakeClock(Date.UTC(2026, 5, 1, 12));
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('removes a confirmed login past its grace at start, and the next one an hour later', async () => {
    const site = uniqueSite('ret');
    agent = new LockAgent({
      site,
      workstation: 'ws-retention',
      url: mqttUrl(),
      clientId: `idg-ws-retention-${site}`,
      centralKey: generateSigningKeyPair().publicKey,
      lockCommand: ['true'],
      lockTimeoutMs: 1000,
      lateMs: 0,
      stateDir,
      graceMs: 120_000,
      retentionDays: 60,
      central: {
        post: async () => ({ reached: false, detail: 'not in this test' }),
      } as unknown as CentralClient,
      clock,
      log: testLogger(),
    });
    confirmed('ada', clock.now() - 120_000);
    confirmed('bob', clock.now());
    await agent.start();
    expect(users()).toEqual(['bob.json']);

    clock.advance(HOUR - 1);
    expect(users()).toEqual(['bob.json']);
    clock.advance(1);
    expect(users()).toEqual([]);

    await agent.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
