import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayStateStore } from '../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { CLOCK_SKEW_MS, MAX_COMMAND_VALIDITY_MS } from '../../../src/protocol/commands.js';

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

/** A store started on a door state that is not JSON: a lost state, and the bound it set. */
function afterLostState() {
  const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
  writeFileSync(join(dir, 'door-state.json'), 'not json');
  const clock = new FakeClock();
  const first = new GatewayStateStore(dir, silentLogger, 5, clock);
  first.load(300);
  return { dir, clock, first, bound: first.issuedThrough() };
}

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

  it('forgets the TOTP steps it is told to, across a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = store(dir);
    first.load(100);
    first.use('ada', 101);
    first.use('bob', 7);
    first.forget((_, step) => step > 50);
    first.close();
    const second = store(dir);
    second.load(200);
    expect([second.lastStep('ada'), second.lastStep('bob')]).toEqual([101, undefined]);
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

  it('bounds the commands refused after a loss by the newest write of the other state files, for a clock that boots behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    writeFileSync(join(dir, 'door-state.json'), 'not json');
    mkdirSync(join(dir, 'outbox'));
    const lastRun = Date.UTC(2026, 5, 1, 12, 0, 0);
    writeFileSync(join(dir, 'outbox', 'seg-0000000000000001.log'), '');
    for (const path of [join(dir, 'outbox', 'seg-0000000000000001.log'), join(dir, 'outbox')])
      utimesSync(path, lastRun / 1000, lastRun / 1000);
    // The clock boots months behind the time the outbox was last written.
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const store = new GatewayStateStore(dir, silentLogger, 5, clock);
    store.load(300);
    expect(store.issuedThrough()).toBe(lastRun + CLOCK_SKEW_MS);
  });

  describe('a lost state found with a clock that booted ahead', () => {
    const real = Date.UTC(2026, 5, 1, 12, 0, 0);
    const ahead = Date.UTC(2027, 0, 1, 0, 0, 0);
    /** A clock read at will, stepped by the test; a monotonic one beside it. */
    function rig(dir: string) {
      const time = { wall: ahead, mono: 1_000 };
      const clock = { now: () => time.wall, setTimeout: new FakeClock().setTimeout };
      const store = new GatewayStateStore(dir, silentLogger, 5, clock, () => time.mono);
      return { time, store };
    }
    function lostDir(lastWrite?: number) {
      const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
      writeFileSync(join(dir, 'door-state.json'), 'not json');
      if (lastWrite !== undefined) {
        writeFileSync(join(dir, 'identity.sealed'), '');
        utimesSync(join(dir, 'identity.sealed'), lastWrite / 1000, lastWrite / 1000);
      }
      return dir;
    }

    it('lowers the bound to the start by the synchronised clock, once, and keeps it across a restart', () => {
      const dir = lostDir();
      const { time, store } = rig(dir);
      store.load(300);
      expect(store.issuedThrough()).toBe(ahead + CLOCK_SKEW_MS);
      // Synchronised 90 s after the start: the clock steps back to real time.
      time.mono += 90_000;
      time.wall = real + 90_000;
      expect(store.clockSynchronised()).toEqual({ from: ahead + CLOCK_SKEW_MS, to: real + CLOCK_SKEW_MS });
      expect(store.issuedThrough()).toBe(real + CLOCK_SKEW_MS);
      // Once: a later check (the clock drifting ahead again) does not move it.
      time.wall += 60 * 60_000;
      expect(store.clockSynchronised()).toBeUndefined();
      store.close();
      const again = rig(dir);
      again.time.wall = real + 2 * 60_000;
      again.store.load(301);
      expect(again.store.issuedThrough()).toBe(real + CLOCK_SKEW_MS);
      expect(again.store.clockSynchronised()).toBeUndefined();
    });

    it('is checked at a later start too, when the clock was synchronised only after a restart', () => {
      const dir = lostDir();
      const first = rig(dir);
      first.store.load(300);
      first.store.close();
      const second = rig(dir);
      second.time.wall = ahead + 5 * 60_000;
      second.store.load(301);
      second.time.mono += 10_000;
      second.time.wall = real + 10_000;
      // This start, by the synchronised clock, was after the one that found the state lost.
      expect(second.store.clockSynchronised()?.to).toBe(real + CLOCK_SKEW_MS);
    });

    it('never goes below the newest write of the other state files', () => {
      const lastWrite = real + 20 * 60_000;
      const { time, store } = rig(lostDir(lastWrite));
      store.load(300);
      time.wall = real;
      expect(store.clockSynchronised()?.to).toBe(lastWrite + CLOCK_SKEW_MS);
    });

    it('keeps a bound the synchronised clock does not lower: a clock that was right, or booted behind', () => {
      const right = rig(lostDir());
      right.store.load(300);
      right.time.mono += 500;
      right.time.wall += 500;
      expect(right.store.clockSynchronised()).toBeUndefined();
      expect(right.store.issuedThrough()).toBe(ahead + CLOCK_SKEW_MS);
      const behind = rig(lostDir(real));
      behind.time.wall = Date.UTC(2026, 0, 1);
      behind.store.load(300);
      behind.time.wall = real + 3_600_000;
      expect(behind.store.clockSynchronised()).toBeUndefined();
      expect(behind.store.issuedThrough()).toBe(real + CLOCK_SKEW_MS);
    });

    it('changes nothing after a state that was read', () => {
      const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
      const { time, store } = rig(dir);
      store.load(300);
      time.wall = real;
      expect(store.clockSynchronised()).toBeUndefined();
      expect(store.issuedThrough()).toBe(0);
    });
  });

  it('takes no file for a first start, and a missing file after a run here for a lost state', () => {
    const first = new GatewayStateStore(mkdtempSync(join(tmpdir(), 'idg-state-')), silentLogger, 5);
    expect(first.load(300).siteLockdown).toBe(false);
    expect(first.lost).toBeUndefined();
    const removed = new GatewayStateStore(mkdtempSync(join(tmpdir(), 'idg-state-')), silentLogger, 5);
    const state = removed.load(300, { ranBefore: true });
    expect(removed.lost).toBe('the file is missing, though this gateway ran here before');
    expect(state).toMatchObject({ siteLockdown: true, evacuation: false, totpFloor: 300 });
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

  it('takes a start without a file for a first start: clean, no lockdown, nothing lost or forgotten', () => {
    const s = store(mkdtempSync(join(tmpdir(), 'idg-state-')));
    const state = s.load(300);
    expect(s.lost).toBeUndefined();
    expect(s.wasUnclean).toBe(false);
    expect(s.floorStep).toBe(0);
    expect(s.forgottenThrough()).toBe(0);
    expect(s.issuedThrough()).toBe(0);
    expect(state).toMatchObject({ siteLockdown: false, evacuation: false });
    s.close();
  });

  it('reads a file written before commandsIssuedThrough existed as it did then, not as a lost state', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const clock = new FakeClock();
    const expires = clock.now() + 30_000;
    // As the version before it wrote it, command memory and all.
    writeFileSync(
      join(dir, 'door-state.json'),
      JSON.stringify({
        clean: true,
        totp: { ada: 101 },
        totpFloor: 0,
        ...notStarted(),
        siteLockdown: true,
        commands: { 'cmd-1': expires },
        commandOutcomes: { 'cmd-1': { status: 'ok' } },
        commandsForgottenThrough: expires - 60_000,
      }),
    );
    const s = new GatewayStateStore(dir, silentLogger, 5, clock);
    const state = s.load(300);
    expect(s.lost).toBeUndefined();
    expect(s.wasUnclean).toBe(false);
    expect(s.lastStep('ada')).toBe(101);
    expect(state.siteLockdown).toBe(true);
    expect(s.seen('cmd-1')).toBe(true);
    expect(s.outcome('cmd-1')).toEqual({ status: 'ok' });
    expect(s.forgottenThrough()).toBe(expires - 60_000);
    expect(s.issuedThrough()).toBe(0);
    s.close();
  });

  /** A state directory whose door-state.json was written by a clean stop, then damaged. */
  function damaged(damage: (file: string) => void): string {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    const first = store(dir);
    first.load(100);
    first.use('ada', 101);
    first.remember('cmd-1', Date.now() + 60_000);
    first.close();
    damage(join(dir, 'door-state.json'));
    return dir;
  }
  const losses: Array<[string, (file: string) => void]> = [
    ['cut short', (file) => writeFileSync(file, readFileSync(file, 'utf8').slice(0, -10))],
    ['that is not JSON', (file) => writeFileSync(file, 'not json')],
    [
      'of an unexpected shape',
      (file) =>
        writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), totpFloor: 1.5 })),
    ],
    [
      'that cannot be read',
      (file) => {
        rmSync(file);
        mkdirSync(file);
      },
    ],
  ];

  it.each(losses)(
    'after a state file %s refuses every TOTP step up to the current one, and every command issued up to the clock skew after the start',
    (_, damage) => {
      const clock = new FakeClock();
      const s = new GatewayStateStore(damaged(damage), silentLogger, 5, clock);
      s.load(300);
      expect(s.lost).toMatch(/^the file /);
      expect(s.wasUnclean).toBe(true);
      expect(s.floorStep).toBe(300);
      expect(s.lastStep('ada')).toBeUndefined();
      expect(s.seen('cmd-1')).toBe(false);
      expect(s.issuedThrough()).toBe(clock.now() + CLOCK_SKEW_MS);
      // Not by expiry: that would refuse the commands sent after the start as well.
      expect(s.forgottenThrough()).toBe(0);
      s.close();
    },
  );

  it('after a lost state holds the site in lockdown and assumes no evacuation', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    writeFileSync(join(dir, 'door-state.json'), '{"clean": tr');
    const state = store(dir).load(300);
    expect(state).toMatchObject({ siteLockdown: true, evacuation: false, rooms: {} });
  });

  it('keeps what it assumed after a lost state across the next restart, as a state it could read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-state-'));
    writeFileSync(join(dir, 'door-state.json'), 'not json');
    const clock = new FakeClock();
    const first = new GatewayStateStore(dir, silentLogger, 5, clock);
    first.load(300);
    first.close();
    const bound = first.issuedThrough();
    // Back within the time a command issued before the first start can still be valid.
    clock.advance(MAX_COMMAND_VALIDITY_MS + CLOCK_SKEW_MS);
    const second = new GatewayStateStore(dir, silentLogger, 5, clock);
    const state = second.load(301);
    expect(second.lost).toBeUndefined();
    expect(state.siteLockdown).toBe(true);
    expect(second.issuedThrough()).toBe(bound);
    expect(second.forgottenThrough()).toBe(0);
  });

  it('drops the bound of a lost state once every command issued before it has expired, keeping their expiry as forgotten', () => {
    const { dir, clock, first, bound } = afterLostState();
    clock.advance(MAX_COMMAND_VALIDITY_MS + 2 * CLOCK_SKEW_MS);
    // A command remembered: the bound still stands, one issued no later is valid for another moment.
    first.remember('cmd-1', clock.now() + 60_000);
    expect(first.issuedThrough()).toBe(bound);
    clock.advance(1);
    first.remember('cmd-2', clock.now() + 60_000);
    expect(first.issuedThrough()).toBe(0);
    // After a step back of the clock, a command of before the loss is still refused, by its expiry.
    expect(first.forgottenThrough()).toBe(bound + MAX_COMMAND_VALIDITY_MS);
    first.close();
    const second = new GatewayStateStore(dir, silentLogger, 5, clock);
    second.load(400);
    expect(second.issuedThrough()).toBe(0);
    expect(second.forgottenThrough()).toBe(bound + MAX_COMMAND_VALIDITY_MS);
    expect(JSON.parse(readFileSync(join(dir, 'door-state.json'), 'utf8'))).not.toHaveProperty(
      'commandsIssuedThrough',
    );
  });

  it('drops the bound at a start after it has passed, with no command since', () => {
    const { dir, clock, first, bound } = afterLostState();
    first.close();
    clock.advance(60 * 60_000);
    const second = new GatewayStateStore(dir, silentLogger, 5, clock);
    second.load(400);
    expect(second.issuedThrough()).toBe(0);
    expect(second.forgottenThrough()).toBe(bound + MAX_COMMAND_VALIDITY_MS);
  });
});
