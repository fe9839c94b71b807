import { afterEach, describe, expect, it } from 'vitest';
import type { Credential } from '../../../src/controllers/door-ports.js';
import { INSIDE_AT_MOST_MS, RoomState } from '../../../src/controllers/room-state.js';
import { MemoryTotpUsage } from '../../../src/controllers/totp-verifier.js';
import { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import type { DoorStateFile } from '../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { testDoor, testPolicy } from '../../helpers/door-config.js';

/**
 * Who is inside a room is personal data on the gateway's disk (door-state.json): it is not kept
 * for longer than a presence can last, nor for a person the credential set no longer holds.
 */
const HOUR = 3_600_000;

const door = testDoor();
const policy = testPolicy();

const credential = (person: string): Credential =>
  ({ badge: `B-${person}`, person, status: 'active', totpSecret: 'JBSWY3DPEHPK3PXP' }) as Credential;

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

/** A runtime started on a door state with `inside` in its room, and a credential set of `persons`. */
async function startedWith(inside: Record<string, number>, persons: string[], synced = true) {
  const clock = new FakeClock();
  const usage = new MemoryTotpUsage();
  const step = Math.floor(clock.now() / 30_000);
  // ada used a code of the current step, bob an hour ago, eve (not in the set) of the current step.
  usage.use('ada', step);
  usage.use('bob', step - 120);
  usage.use('eve', step);
  const events: EventBody[] = [];
  const set = { credentials: persons.map(credential) };
  const runtime = new DoorRuntime({
    doors: [door],
    rooms: [],
    policy,
    totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
    clock,
    credentials: {
      findByBadge: (badge) => set.credentials.find((c) => c.badge === badge),
      syncedAt: synced ? clock.now() : 0,
      all: () => set.credentials,
    },
    clockSync: { synchronised: () => true },
    usage,
    log: silentLogger,
    emit: (event) => events.push(event),
    feedback: () => {},
    changed: () => {},
  });
  running.push(runtime);
  const now = clock.now();
  const state: DoorStateFile = {
    clean: true,
    totp: {},
    totpFloor: 0,
    badgeThrottle: { failures: {}, lockedUntil: {} },
    readerThrottle: { failures: {}, lockedUntil: {} },
    rooms: {
      'ident-1': {
        inside: Object.fromEntries(Object.entries(inside).map(([p, age]) => [p, now - age])),
        lockdown: false,
      },
    },
    siteLockdown: false,
    evacuation: false,
  };
  await runtime.start(state);
  const inRoom = () => Object.keys(runtime.snapshot().rooms['ident-1']?.inside ?? {}).sort();
  const occupancy = () => events.flatMap((e) => (e.kind === 'room.occupancy' ? [e.data.occupants] : []));
  const steps = () => ['ada', 'bob', 'eve'].filter((p) => usage.lastStep(p) !== undefined);
  return { clock, runtime, set, inRoom, occupancy, steps };
}

describe('who is inside, on the gateway', () => {
  it('forgets at start those inside for longer than a day, and those the credential set does not hold', async () => {
    const r = await startedWith({ ada: INSIDE_AT_MOST_MS + HOUR, bob: HOUR, eve: HOUR }, ['ada', 'bob']);
    expect(r.inRoom()).toEqual(['bob']);
    expect(r.occupancy()).toEqual([1]);
  });

  it('forgets them hourly as they pass a day inside', async () => {
    const r = await startedWith({ bob: HOUR }, ['bob']);
    expect(r.inRoom()).toEqual(['bob']);
    r.clock.advance(INSIDE_AT_MOST_MS - 2 * HOUR);
    expect(r.inRoom()).toEqual(['bob']);
    r.clock.advance(HOUR);
    expect(r.inRoom()).toEqual([]);
    expect(r.occupancy()).toEqual([0]);
  });

  it('forgets a person whom a new credential set no longer holds (erased), as it is applied', async () => {
    const r = await startedWith({ ada: HOUR, bob: HOUR }, ['ada', 'bob']);
    r.set.credentials = [credential('bob')];
    r.runtime.forgetPeople();
    expect(r.inRoom()).toEqual(['bob']);
    expect(r.occupancy()).toEqual([1]);
  });

  it('forgets a last TOTP step too old to refuse a code, and the step of a person not in the set', async () => {
    const r = await startedWith({}, ['ada', 'bob']);
    expect(r.steps()).toEqual(['ada']);
    r.clock.advance(HOUR);
    expect(r.steps()).toEqual([]);
  });

  it('forgets nobody for the set while it has none (not received yet, or unreadable)', async () => {
    const r = await startedWith({ ada: HOUR }, [], false);
    expect(r.inRoom()).toEqual(['ada']);
    expect(r.occupancy()).toEqual([]);
  });

  it('forgets nobody for a set without an active credential (an empty set is seldom meant)', async () => {
    const r = await startedWith({ ada: HOUR, bob: HOUR }, ['ada', 'bob']);
    r.set.credentials = [];
    r.runtime.forgetPeople();
    expect(r.inRoom()).toEqual(['ada', 'bob']);
  });
});

describe('a room’s own reset', () => {
  it('forgets sooner than a day where the room resets sooner', () => {
    const room = new RoomState({
      id: 'r',
      antiPassback: 'hard',
      antiPassbackResetMs: HOUR,
      firstPersonIn: false,
    });
    room.record('ada', 'in', 0);
    expect(room.forget(HOUR - 1)).toBe(false);
    expect(room.forget(HOUR)).toBe(true);
    expect(room.snapshot().inside).toEqual({});
  });
});
