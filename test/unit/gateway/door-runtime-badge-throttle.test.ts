import { afterEach, describe, expect, it } from 'vitest';
import type { Credential } from '../../../src/controllers/door-ports.js';
import type { ThrottleState } from '../../../src/controllers/failure-throttle.js';
import { MemoryTotpUsage } from '../../../src/controllers/totp-verifier.js';
import { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import type { DoorStateFile } from '../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { testDoor, testPolicy } from '../../helpers/door-config.js';

/**
 * The badge throttle in door-state.json holds badge ids and the times of their wrong codes:
 * personal data, kept only while it can still lock a badge out (the window, 15 minutes by
 * default; a lockout until it ends), and not for a badge the credential set no longer holds.
 */
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const credential = (person: string): Credential =>
  ({ badge: `B-${person}`, person, status: 'active', totpSecret: 'JBSWY3DPEHPK3PXP' }) as Credential;

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

/**
 * A runtime started on a door state whose badge throttle holds `throttle` (times relative to
 * now, negative in the past), with a credential set of `persons`.
 */
async function startedWith(throttle: ThrottleState, persons: string[], synced = true) {
  const clock = new FakeClock();
  const set = { credentials: persons.map(credential) };
  let writes = 0;
  const runtime = new DoorRuntime({
    doors: [testDoor()],
    rooms: [],
    policy: testPolicy(),
    totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
    clock,
    credentials: {
      findByBadge: (badge) => set.credentials.find((c) => c.badge === badge),
      syncedAt: synced ? clock.now() : 0,
      all: () => set.credentials,
    },
    clockSync: { synchronised: () => true },
    usage: new MemoryTotpUsage(),
    log: silentLogger,
    emit: () => {},
    feedback: () => {},
    changed: () => writes++,
  });
  running.push(runtime);
  const now = clock.now();
  const state: DoorStateFile = {
    clean: true,
    totp: {},
    totpFloor: 0,
    badgeThrottle: {
      failures: Object.fromEntries(
        Object.entries(throttle.failures).map(([key, ages]) => [key, ages.map((age) => now + age)]),
      ),
      lockedUntil: Object.fromEntries(
        Object.entries(throttle.lockedUntil).map(([key, age]) => [key, now + age]),
      ),
    },
    readerThrottle: { failures: {}, lockedUntil: {} },
    rooms: {},
    siteLockdown: false,
    evacuation: false,
  };
  await runtime.start(state);
  const kept = () => {
    const { failures, lockedUntil } = runtime.snapshot().badgeThrottle;
    return { failures: Object.keys(failures).sort(), lockedUntil: Object.keys(lockedUntil).sort() };
  };
  return { clock, runtime, set, kept, writes: () => writes };
}

describe('the badge throttle in the gateway’s door state', () => {
  it('forgets at start the failures and lockout of a badge the credential set does not hold (erased), however old', async () => {
    const r = await startedWith(
      {
        failures: { 'badge:B-eve': [-61 * DAY], 'badge:B-max': [-MINUTE] },
        lockedUntil: { 'badge:B-eve-old': -61 * DAY, 'badge:B-max': 10 * MINUTE },
      },
      ['ada'],
    );
    expect(r.kept()).toEqual({ failures: [], lockedUntil: [] });
    expect(r.writes()).toBeGreaterThan(0);
  });

  it('forgets a badge’s wrong codes once they are older than the window, and a lockout once it has ended', async () => {
    const r = await startedWith(
      {
        failures: { 'badge:B-ada': [-20 * MINUTE, -5 * MINUTE], 'badge:B-bob': [-16 * MINUTE] },
        lockedUntil: { 'badge:B-ada': 30 * MINUTE, 'badge:B-bob': -MINUTE },
      },
      ['ada', 'bob'],
    );
    expect(r.kept()).toEqual({ failures: ['badge:B-ada'], lockedUntil: ['badge:B-ada'] });
    expect(r.runtime.snapshot().badgeThrottle.failures['badge:B-ada']).toHaveLength(1);
    r.clock.advance(HOUR);
    expect(r.kept()).toEqual({ failures: [], lockedUntil: [] });
  });

  it('keeps the live lockout of a badge still in the set, and refuses that badge', async () => {
    const r = await startedWith({ failures: {}, lockedUntil: { 'badge:B-ada': 30 * MINUTE } }, [
      'ada',
      'bob',
    ]);
    r.set.credentials = [credential('ada')];
    r.runtime.forgetPeople();
    expect(r.kept().lockedUntil).toEqual(['badge:B-ada']);
    expect(r.runtime.rules.badgeThrottle.isLocked('badge:B-ada', r.clock.now())).toBe(true);
  });

  it('forgets the live lockout of a badge as a set without it (erased) is applied', async () => {
    const r = await startedWith({ failures: {}, lockedUntil: { 'badge:B-ada': 30 * MINUTE } }, [
      'ada',
      'bob',
    ]);
    const before = r.writes();
    r.set.credentials = [credential('bob')];
    r.runtime.forgetPeople();
    expect(r.kept()).toEqual({ failures: [], lockedUntil: [] });
    expect(r.writes()).toBeGreaterThan(before);
  });

  it('forgets no live lockout for the set while there is none (not received yet, or unreadable)', async () => {
    const r = await startedWith(
      { failures: { 'badge:B-ada': [-MINUTE] }, lockedUntil: { 'badge:B-ada': 30 * MINUTE } },
      [],
      false,
    );
    expect(r.kept()).toEqual({ failures: ['badge:B-ada'], lockedUntil: ['badge:B-ada'] });
  });
});
