import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayStateStore } from '../../../src/gateway/gateway-state-store.js';
import { silentLogger } from '../../../src/lib/logger.js';

function store(dir: string) {
  return new GatewayStateStore(dir, silentLogger, 5);
}

/** The door runtime's snapshot before it has applied the state it was started with. */
const notStarted = () => ({
  badgeThrottle: { failures: {}, lockedUntil: {} },
  readerThrottle: { failures: {}, lockedUntil: {} },
  rooms: {},
  siteLockdown: false,
  evacuation: false,
});

describe('gateway door state', () => {
  it('keeps the last TOTP step per person across a clean restart, without a floor', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = store(dir);
    first.load(100);
    first.use('ada', 101);
    first.close();
    const second = store(dir);
    second.load(200);
    expect(second.lastStep('ada')).toBe(101);
    expect(second.floorStep).toBe(0);
    expect(second.wasUnclean).toBe(false);
  });

  it('returns the lockdown, evacuation and rooms it read, not the runtime state they have not been applied to yet', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = store(dir);
    first.load(100);
    first.snapshot = () => ({
      ...notStarted(),
      rooms: { 'ident-1': { inside: { ada: 1 }, lockdown: true } },
      siteLockdown: true,
      evacuation: true,
    });
    first.close();
    const second = store(dir);
    second.snapshot = notStarted;
    const state = second.load(200);
    expect(state).toMatchObject({
      rooms: { 'ident-1': { inside: { ada: 1 }, lockdown: true } },
      siteLockdown: true,
      evacuation: true,
    });
    // And so on disk, for a crash before the runtime writes again.
    expect(JSON.parse(readFileSync(join(dir, 'door-state.json'), 'utf8'))).toMatchObject({
      siteLockdown: true,
      evacuation: true,
    });
  });

  it('after a crash refuses every step up to the current one for everyone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = store(dir);
    first.load(100);
    // No close(): the process died.
    const second = store(dir);
    second.load(205);
    expect(second.wasUnclean).toBe(true);
    expect(second.floorStep).toBe(205);
  });

  it("keeps a command's answer on disk at once, for a redelivery after a crash", () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = new GatewayStateStore(dir, silentLogger, 60_000);
    first.load(0);
    first.remember('cmd-1', Date.now() + 60_000);
    first.answered('cmd-1', { status: 'ok', reason: 'unlocked' });
    // No close(): the process ends here.
    const after = store(dir);
    after.load(0);
    expect(after.seen('cmd-1')).toBe(true);
    expect(after.outcome('cmd-1')).toEqual({ status: 'ok', reason: 'unlocked' });
  });

  it('writes changes behind, within its flush interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const s = store(dir);
    s.load(1);
    s.use('ben', 7);
    await new Promise<void>((resolve) => {
      const check = () =>
        JSON.parse(readFileSync(join(dir, 'door-state.json'), 'utf8')).totp.ben === 7
          ? resolve()
          : setImmediate(check);
      check();
    });
    s.close();
  });

  it('starts from empty state, treated as unclean, when the file is damaged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    writeFileSync(join(dir, 'door-state.json'), '{"clean": tr');
    const s = store(dir);
    s.load(300);
    expect(s.floorStep).toBe(300);
    expect(s.lastStep('ada')).toBeUndefined();
    s.close();
  });
});
