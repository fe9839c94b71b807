import { afterEach, describe, expect, it } from 'vitest';
import type { HeldCondition } from '../../../src/controllers/alarm-book.js';
import { MemoryTotpUsage } from '../../../src/controllers/totp-verifier.js';
import { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import type { DoorStateFile } from '../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { testDoor, testPolicy } from '../../helpers/door-config.js';

/**
 * What the door runtime makes at start of the alarm conditions carried over a restart: those
 * its first look shows ended are cleared at once, those that hold stay, none is raised twice.
 */
const MINUTE = 60_000;

const door = testDoor();
const policy = testPolicy();

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

/** A runtime restarted with `carried` in its alarm book and `lockedUntil` in its door state. */
function restarted(
  carried: HeldCondition[],
  lockedUntil: { badge?: Record<string, number>; reader?: Record<string, number> } = {},
) {
  const clock = new FakeClock();
  const events: EventBody[] = [];
  const runtime = new DoorRuntime({
    doors: [door],
    rooms: [],
    policy,
    totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
    clock,
    credentials: { findByBadge: () => undefined, syncedAt: clock.now(), all: () => [] },
    clockSync: { synchronised: () => true },
    usage: new MemoryTotpUsage(),
    log: silentLogger,
    emit: (event) => events.push(event),
    feedback: () => {},
    changed: () => {},
  });
  running.push(runtime);
  runtime.alarms.carryOver(carried);
  const state: DoorStateFile = {
    clean: true,
    totp: {},
    totpFloor: 0,
    badgeThrottle: { failures: {}, lockedUntil: lockedUntil.badge ?? {} },
    readerThrottle: { failures: {}, lockedUntil: lockedUntil.reader ?? {} },
    rooms: {},
    siteLockdown: false,
    evacuation: false,
  };
  const cleared = () =>
    events.flatMap((e) => (e.kind === 'alarm.cleared' ? [[e.data.key, e.data.detail]] : []));
  const raised = () => events.flatMap((e) => (e.kind === 'alarm.raised' ? [e.data.key] : []));
  return { clock, runtime, state, cleared, raised, start: () => runtime.start(state) };
}

const lockedOut: HeldCondition = {
  alarm: 'badge-locked-out',
  key: 'badge-locked-out:B-ADA',
  severity: 'warning',
  door: 'main',
};
const throttled: HeldCondition = {
  alarm: 'reader-throttled',
  key: 'reader-throttled:main:in',
  severity: 'warning',
  door: 'main',
};

describe('carried-over alarm conditions at the door runtime’s start', () => {
  it('clears a lockout that ended during the restart at once', async () => {
    const r = restarted([lockedOut, throttled]);
    await r.start();
    expect(r.cleared()).toEqual([
      ['badge-locked-out:B-ADA', 'lockout ended'],
      ['reader-throttled:main:in', 'throttle ended'],
    ]);
  });

  it('clears a lockout still in force when it ends, as before the restart', async () => {
    const r = restarted([lockedOut, throttled]);
    const now = r.clock.now();
    r.state.badgeThrottle.lockedUntil = { 'badge:B-ADA': now + 10 * MINUTE };
    r.state.readerThrottle.lockedUntil = { 'reader:main:in': now + MINUTE };
    await r.start();
    expect(r.cleared()).toEqual([]);
    r.clock.advance(MINUTE);
    expect(r.cleared()).toEqual([['reader-throttled:main:in', 'throttle ended']]);
    r.clock.advance(9 * MINUTE);
    expect(r.cleared()).toEqual([
      ['reader-throttled:main:in', 'throttle ended'],
      ['badge-locked-out:B-ADA', 'lockout ended'],
    ]);
    expect(r.runtime.alarms.carriedOver).toEqual([]);
  });

  it('clears a device fault whose device starts, and keeps one whose device fails again', async () => {
    const keypadFault: HeldCondition = {
      alarm: 'device-fault',
      key: 'device-fault:main:keypad',
      severity: 'warning',
      door: 'main',
    };
    const readerFault: HeldCondition = { ...keypadFault, key: 'device-fault:main:exit-reader' };
    const r = restarted([keypadFault, readerFault]);
    const keypad = r.runtime.doors.get('main')?.devices.keypad;
    if (!keypad) throw new Error('no keypad');
    keypad.start = async () => {
      throw new Error('keypad unplugged');
    };
    await r.start();
    expect(r.cleared()).toEqual([['device-fault:main:exit-reader', 'exit-reader main.exit-reader started']]);
    // The fault observed again: held once, its raising sent once more (see AlarmBook.raise).
    expect(r.raised()).toEqual(['device-fault:main:keypad']);
    expect(r.runtime.alarms.isActive('device-fault:main:keypad')).toBe(true);
    expect(r.runtime.alarms.carriedOver).toEqual([]);
  });

  it('keeps a forced door whose contact does not start: a cut sensor does not end the alarm', async () => {
    const r = restarted([
      { alarm: 'door-forced', key: 'door-forced:main', severity: 'critical', door: 'main' },
    ]);
    const contact = r.runtime.doors.get('main')?.devices.contact;
    if (!contact) throw new Error('no contact');
    contact.start = async () => {
      throw new Error('contact line cut');
    };
    await r.start();
    expect(r.cleared()).toEqual([]);
    expect(r.raised()).toEqual(['device-fault:main:contact', 'door-forced:main']);
    expect(r.runtime.alarms.isActive('door-forced:main')).toBe(true);
    // Confirmed, so the settle period does not end it either.
    expect(r.runtime.alarms.carriedOver).toEqual([]);
  });

  it('clears a forced door found closed at start', async () => {
    const r = restarted([
      { alarm: 'door-forced', key: 'door-forced:main', severity: 'critical', door: 'main' },
    ]);
    await r.start();
    expect(r.cleared()).toEqual([['door-forced:main', 'door closed at start']]);
  });
});
