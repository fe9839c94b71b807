import { afterEach, describe, expect, it } from 'vitest';
import { DoorConfig } from '../../../src/config/gateway-config.js';
import type { HeldCondition } from '../../../src/controllers/alarm-book.js';
import { MemoryTotpUsage } from '../../../src/controllers/totp-verifier.js';
import { DoorRuntime } from '../../../src/gateway/door-runtime.js';
import { type DoorStateFile, emptyDoorState } from '../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { testPolicy } from '../../helpers/door-config.js';
import { configured } from '../devices/helpers/device-configs.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from '../devices/helpers/fake-gpio.js';

/**
 * A door runtime on the real GPIO adapters: a strike on an active-high relay (energised =
 * released) and a door contact (high = open) on a fake Raspberry Pi 5 header, with a fake clock.
 * What the gateway claims about the door must be what the hardware does.
 */
const LOCK = 571 + 17;
const CONTACT = 571 + 27;
const GPIO_LOCK = {
  type: 'gpio',
  pin: { chip: 'pinctrl-rp1', line: 17 },
  activeLow: false,
  energised: 'unlocked',
};
const GPIO_CONTACT = {
  type: 'gpio',
  pin: { chip: 'pinctrl-rp1', line: 27 },
  activeLow: false,
  debounceMs: 50,
};
const FORCED: HeldCondition = {
  alarm: 'door-forced',
  key: 'door-forced:main',
  severity: 'critical',
  door: 'main',
};

const running: DoorRuntime[] = [];
afterEach(async () => {
  for (const runtime of running.splice(0)) await runtime.stop();
});

function rig(devices: { lock?: unknown; contact?: unknown }) {
  const clock = new FakeClock();
  const board = new FakeGpioBoard();
  const events: EventBody[] = [];
  const door = configured(DoorConfig, {
    id: 'main',
    room: 'ident-1',
    unlockSeconds: 5,
    devices: {
      entryReader: { type: 'simulated' },
      keypad: { type: 'simulated' },
      lock: devices.lock ?? { type: 'simulated' },
      contact: devices.contact ?? { type: 'simulated' },
    },
  });
  const build = () => {
    const runtime = new DoorRuntime({
      doors: [door],
      rooms: [],
      policy: testPolicy(),
      totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
      clock,
      credentials: { findByBadge: () => undefined, syncedAt: clock.now(), all: () => [] },
      clockSync: { synchronised: () => true },
      usage: new MemoryTotpUsage(),
      log: silentLogger,
      deviceContext: { Gpio: board.Gpio, sysfsRoot: fakeSysfs(PI5_CHIPS) },
      emit: (event) => events.push(event),
      feedback: () => {},
      changed: () => {},
    });
    running.push(runtime);
    return runtime;
  };
  const state: DoorStateFile = emptyDoorState();
  const started = async () => {
    const runtime = build();
    await runtime.start(state);
    return runtime;
  };
  const kinds = () => events.map((e) => e.kind);
  const raised = () => events.flatMap((e) => (e.kind === 'alarm.raised' ? [e.data.key] : []));
  const cleared = () => events.flatMap((e) => (e.kind === 'alarm.cleared' ? [e.data.key] : []));
  return { clock, board, events, state, build, started, kinds, raised, cleared };
}

describe('door runtime on GPIO: a relay that refuses a write', () => {
  it('does not claim a relock the relay refused: the door stays unlocked, with a lock fault', async () => {
    const r = rig({ lock: GPIO_LOCK });
    const runtime = await r.started();
    runtime.remoteUnlock('main', 5_000);
    r.board.failWrites = true; // EIO on the value file
    r.clock.advance(5_000);
    expect({
      level: r.board.level(LOCK),
      lockState: runtime.doors.get('main')?.devices.lock.state,
      lastDoorEvent: r
        .kinds()
        .filter((k) => k.startsWith('door.'))
        .at(-1),
      raised: r.raised(),
    }).toEqual({
      level: 1,
      lockState: 'unlocked',
      lastDoorEvent: 'door.unlocked',
      raised: ['device-fault:main:lock'],
    });
  });

  it('relocks once the relay takes writes again, then says door.locked and ends the fault', async () => {
    const r = rig({ lock: GPIO_LOCK });
    const runtime = await r.started();
    runtime.remoteUnlock('main', 5_000);
    r.board.failWrites = true;
    r.clock.advance(5_000 + 10_000);
    const before = r.events.length;
    r.board.failWrites = false;
    r.clock.advance(1_000);
    expect({
      level: r.board.level(LOCK),
      lockState: runtime.doors.get('main')?.devices.lock.state,
      after: r.events
        .slice(before)
        .map((e) => (e.kind === 'alarm.cleared' ? `${e.kind} ${e.data.key}` : e.kind)),
    }).toEqual({
      level: 0,
      lockState: 'locked',
      after: ['door.locked', 'alarm.cleared device-fault:main:lock'],
    });
  });
});

describe('door runtime on GPIO: the relay at boot', () => {
  it('drives a strike left released by a crashed run to locked as the runtime is built, before start', () => {
    const r = rig({ lock: GPIO_LOCK });
    // The last run crashed during an unlock: sysfs keeps the pin exported and high.
    Object.assign(r.board.pin(LOCK), { exported: true, direction: 'out', physical: 1 });
    r.build();
    expect(r.board.level(LOCK)).toBe(0);
  });
});

describe('door runtime on GPIO: a contact that misbehaves', () => {
  it('reports a door forced open behind a contact line that never settles', async () => {
    const r = rig({ contact: GPIO_CONTACT });
    await r.started();
    // Forced open while noise (or an injected square wave) toggles the line every 20 ms.
    for (let t = 0; t < 2_000; t += 20) {
      r.board.drive(CONTACT, t % 40 === 0 ? 1 : 0);
      r.clock.advance(20);
    }
    expect(r.kinds().filter((k) => k === 'door.forced')).toHaveLength(1);
    expect(r.raised()).toEqual(['device-fault:main:contact', 'door-forced:main']);
  });

  it('keeps a door-forced alarm carried over a restart while the contact cannot be read', async () => {
    const r = rig({ contact: GPIO_CONTACT });
    r.board.drive(CONTACT, 1); // the door stands open
    r.board.failReads.add(CONTACT);
    const runtime = r.build();
    runtime.alarms.carryOver([FORCED]);
    await runtime.start(r.state);
    expect(r.cleared()).toEqual([]);
    expect(r.raised()).toContain('device-fault:main:contact');
    expect(runtime.doors.get('main')?.devices.contact.isOpen()).toBeUndefined();
  });

  it('ends that alarm once the contact reads again and finds the door closed', async () => {
    const r = rig({ contact: GPIO_CONTACT });
    r.board.failReads.add(CONTACT);
    const runtime = r.build();
    runtime.alarms.carryOver([FORCED]);
    await runtime.start(r.state);
    r.board.failReads.delete(CONTACT);
    r.clock.advance(1_000);
    expect(r.cleared()).toEqual(['device-fault:main:contact', 'door-forced:main']);
  });

  it('picks up a contact line that was busy at start once it is free, and reports an opening', async () => {
    const r = rig({ contact: GPIO_CONTACT });
    r.board.exportErrors.set(CONTACT, Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }));
    await r.started();
    expect(r.raised()).toEqual(['device-fault:main:contact']);
    r.board.exportErrors.delete(CONTACT);
    r.clock.advance(60_000);
    r.board.drive(CONTACT, 1);
    r.clock.advance(50);
    expect(r.cleared()).toEqual(['device-fault:main:contact']);
    expect(r.kinds()).toContain('door.forced');
  });
});
