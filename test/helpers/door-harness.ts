import { AccessRules, type AccessRulesSettings } from '../../src/controllers/access-rules.js';
import { AlarmBook, type HeldCondition } from '../../src/controllers/alarm-book.js';
import { DoorController } from '../../src/controllers/door-controller.js';
import type { Credential, DoorFeedback, DoorSettings } from '../../src/controllers/door-ports.js';
import { type RoomSettings, RoomState } from '../../src/controllers/room-state.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import { type DuressVariant, MemoryTotpUsage, TotpVerifier } from '../../src/controllers/totp-verifier.js';
import { FakeClock } from '../../src/lib/clock.js';
import { checkEventData } from '../../src/protocol/envelope.js';
import type { EventBody } from '../../src/protocol/event-kinds.js';

export const SECRET_ADA = generateTotpSecret();
export const SECRET_BEN = generateTotpSecret();

export function credential(overrides: Partial<Credential> & { badge: string; person: string }): Credential {
  return { name: overrides.person, status: 'active', totpSecret: SECRET_ADA, ...overrides };
}

export interface HarnessOptions {
  door?: Partial<DoorSettings>;
  room?: Partial<RoomSettings>;
  rules?: Partial<AccessRulesSettings>;
  credentials?: Credential[];
  duress?: DuressVariant;
  start?: number;
  /** Alarm conditions carried over from before a restart, and whether the door stands open at start. */
  carriedOver?: HeldCondition[];
  openAtStart?: boolean | 'unknown';
}

/**
 * A door controller with fakes for every port: a clock the test advances, a relay that records
 * commands, an event list, and a clock-sync switch.
 */
export function doorHarness(options: HarnessOptions = {}) {
  const clock = new FakeClock(options.start ?? Date.UTC(2026, 0, 7, 8, 0, 10));
  const events: EventBody[] = [];
  const feedback: DoorFeedback[] = [];
  const relay: Array<'unlock' | 'lock'> = [];
  /** How often the controller voided a half-typed keypad entry. */
  const keypad = { cleared: 0 };
  const sync = { ok: true };
  let syncedAt = clock.now();
  const credentials = options.credentials ?? [
    credential({ badge: 'B-ADA', person: 'ada', totpSecret: SECRET_ADA }),
    credential({ badge: 'B-BEN', person: 'ben', totpSecret: SECRET_BEN }),
  ];
  const lookup = {
    findByBadge: (badge: string) => credentials.find((c) => c.badge === badge),
    get syncedAt() {
      return syncedAt;
    },
    all: () => credentials,
  };
  // Every event a controller emits must be one the central side stores, not quarantines.
  const emit = (event: EventBody) => {
    const checked = checkEventData(event.kind, event.data);
    if (!checked.ok) throw new Error(`emitted an event the central side refuses: ${checked.detail}`);
    events.push(event);
  };
  const alarms = new AlarmBook(emit);
  alarms.carryOver(options.carriedOver ?? []);
  const rules = new AccessRules(
    {
      compliance: { warnDays: 30 },
      badgeThrottle: { maxFailures: 5, windowMs: 15 * 60_000, lockoutMs: 15 * 60_000 },
      readerThrottle: { maxFailures: 20, windowMs: 5 * 60_000, lockoutMs: 2 * 60_000 },
      offlineHorizonMs: 72 * 3_600_000,
      ...options.rules,
    },
    lookup,
    { synchronised: () => sync.ok },
    alarms,
  );
  const room = new RoomState({ id: 'ident-1', antiPassback: 'off', firstPersonIn: false, ...options.room });
  const usage = new MemoryTotpUsage();
  const totp = new TotpVerifier(undefined, usage, options.duress);
  const settings: DoorSettings = {
    id: 'main',
    room: 'ident-1',
    unlockMs: 5000,
    codeTimeoutMs: 20_000,
    heldOpenMs: 30_000,
    failMode: 'secure',
    exitRequiresCode: false,
    ...options.door,
  };
  // A relay that takes every command, unless the test makes its writes fail.
  const lock = {
    state: 'locked' as 'locked' | 'unlocked',
    refuses: false,
    unlock: () => {
      relay.push('unlock');
      if (!lock.refuses) lock.state = 'unlocked';
    },
    lock: () => {
      relay.push('lock');
      if (!lock.refuses) lock.state = 'locked';
    },
  };
  const door = new DoorController(settings, {
    clock,
    lock,
    keypad: { clearEntry: () => keypad.cleared++ },
    credentials: lookup,
    rules,
    room,
    totp,
    emit,
    feedback: (f) => feedback.push(f),
  });
  door.enterFailMode();
  door.start(options.openAtStart === 'unknown' ? undefined : (options.openAtStart ?? false));
  relay.length = 0;
  const secretOf = (badge: string) => credentials.find((c) => c.badge === badge)?.totpSecret ?? SECRET_ADA;
  return {
    clock,
    events,
    feedback,
    relay,
    keypad,
    lock,
    door,
    rules,
    room,
    usage,
    sync,
    credentials,
    setSyncedAt: (ms: number) => {
      syncedAt = ms;
    },
    /** The code the badge holder's authenticator shows now. */
    code: (badge = 'B-ADA', atMs = clock.now()) => totp.generate(secretOf(badge), atMs),
    /** A six-digit code that is certainly wrong now. */
    wrongCode: (badge = 'B-ADA') => {
      const right = totp.generate(secretOf(badge), clock.now());
      return String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
    },
    kinds: () => events.map((e) => e.kind),
    decisions: () => events.filter((e) => e.kind === 'access.granted' || e.kind === 'access.denied'),
    denials: () => events.flatMap((e) => (e.kind === 'access.denied' ? [e.data.reason] : [])),
    alarms: () => events.flatMap((e) => (e.kind === 'alarm.raised' ? [e.data.alarm] : [])),
    /** Badge then the current code: the normal way in. */
    enter: (badge = 'B-ADA') => {
      door.badge(badge, 'in');
      return door.code(totp.generate(secretOf(badge), clock.now()));
    },
  };
}
