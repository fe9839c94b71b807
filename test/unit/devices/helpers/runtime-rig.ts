import { DoorConfig } from '../../../../src/config/gateway-config.js';
import type { Credential } from '../../../../src/controllers/door-ports.js';
import { MemoryTotpUsage, TotpVerifier } from '../../../../src/controllers/totp-verifier.js';
import { DoorRuntime } from '../../../../src/gateway/door-runtime.js';
import { type DoorStateFile, emptyDoorState } from '../../../../src/gateway/gateway-state-store.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import type { EventBody } from '../../../../src/protocol/event-kinds.js';
import { testPolicy } from '../../../helpers/door-config.js';
import { SECRET_ADA } from '../../../helpers/door-harness.js';
import { configured } from './device-configs.js';
import { FakeGpioBoard, fakeSysfs, PI5_CHIPS } from './fake-gpio.js';
import { FakeHidBackend, settle } from './fake-hid.js';
import { KEY_UP, KEYPAD_ENTER, keyReport } from './hid-reports.js';

export const ADA_BADGE = '0013110988';
const SIMULATED = { type: 'simulated' };

/**
 * Doors as the gateway runs them: the real HID adapters built from configuration (checked by the
 * schema only, so that configurations the loader refuses reach the run-time guards) in a
 * DoorRuntime, on a fake USB bus and a FakeClock. Ada (badge ADA_BADGE unless told) may enter.
 */
export function runtimeRig(doors: Record<string, Record<string, unknown>>, badge = ADA_BADGE) {
  const ada: Credential = { badge, person: 'ada', status: 'active', totpSecret: SECRET_ADA };
  const clock = new FakeClock();
  const hid = new FakeHidBackend();
  const events: EventBody[] = [];
  const runtime = new DoorRuntime({
    doors: Object.entries(doors).map(([id, devices]) =>
      configured(DoorConfig, {
        id,
        room: 'ident-1',
        devices: {
          entryReader: SIMULATED,
          keypad: SIMULATED,
          lock: SIMULATED,
          contact: SIMULATED,
          ...devices,
        },
      }),
    ),
    rooms: [],
    policy: testPolicy(),
    totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
    clock,
    credentials: {
      findByBadge: (presented) => (presented === badge ? ada : undefined),
      syncedAt: clock.now(),
      all: () => [ada],
    },
    clockSync: { synchronised: () => true },
    usage: new MemoryTotpUsage(),
    log: silentLogger,
    deviceContext: { hid, Gpio: new FakeGpioBoard().Gpio, sysfsRoot: fakeSysfs(PI5_CHIPS) },
    emit: (event) => events.push(event),
    feedback: () => {},
    changed: () => {},
  });
  const state: DoorStateFile = emptyDoorState();
  return {
    clock,
    hid,
    events,
    runtime,
    start: async () => {
      await runtime.start(state);
      await settle();
    },
    /** The code Ada's authenticator shows now. */
    code: () => new TotpVerifier(undefined, new MemoryTotpUsage()).generate(SECRET_ADA, clock.now()),
    /** `[kind, direction, reason?]` of every access decision, in order. */
    decisions: (): string[][] =>
      events.flatMap((e): string[][] =>
        e.kind === 'access.granted'
          ? [[e.kind, e.data.direction]]
          : e.kind === 'access.denied'
            ? [[e.kind, e.data.direction, e.data.reason]]
            : [],
      ),
    faults: () => events.flatMap((e) => (e.kind === 'alarm.raised' ? [e.data.key] : [])),
  };
}

/** Numeric-keypad usages: 1-9 are 0x59-0x61, 0 is 0x62. */
const keypadUsage = (digit: string) => (digit === '0' ? 0x62 : 0x58 + Number(digit));

/** The reports of a USB numeric keypad as `digits` are typed, then Enter unless `submit` is false. */
export function keypadReports(digits: string, submit = true): Uint8Array[] {
  const reports = [...digits].flatMap((digit) => [keyReport(0, keypadUsage(digit)), KEY_UP]);
  return submit ? [...reports, keyReport(0, KEYPAD_ENTER), KEY_UP] : reports;
}
