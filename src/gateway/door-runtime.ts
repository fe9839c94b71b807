import type { PolicyConfig, RoomConfig } from '../config/door-policy-config.js';
import type { DoorConfig, TotpConfig } from '../config/gateway-config.js';
import { AccessRules, badgeKey } from '../controllers/access-rules.js';
import { AlarmBook, type ConditionStore } from '../controllers/alarm-book.js';
import { complianceWarnings } from '../controllers/compliance.js';
import { DoorController } from '../controllers/door-controller.js';
import type { ClockSyncStatus, CredentialLookup, DoorFeedback } from '../controllers/door-ports.js';
import { resumeLockoutAlarms } from '../controllers/lockout-alarms.js';
import { RoomState } from '../controllers/room-state.js';
import { type TotpUsageStore, TotpVerifier } from '../controllers/totp-verifier.js';
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { doorSettings, roomSettings, throttleSettings } from './controller-settings.js';
import { createDoorDevices, type DeviceContext } from './devices/device-factory.js';
import {
  type DeviceRole,
  type DoorDevices,
  devicesWithRoles,
  type IndicatorPattern,
} from './devices/device-ports.js';
import { HidClaims } from './devices/hid-claims.js';
import type { DoorStateFile } from './gateway-state-store.js';

export interface RuntimeDoor {
  id: string;
  name?: string;
  room: string;
  controller: DoorController;
  devices: DoorDevices;
}

export interface DoorRuntimeOptions {
  /** Where the alarm book keeps its conditions across a restart (none: in memory only). */
  conditions?: ConditionStore;
  doors: DoorConfig[];
  rooms: RoomConfig[];
  policy: PolicyConfig;
  totp: TotpConfig;
  clock: Clock;
  credentials: CredentialLookup;
  clockSync: ClockSyncStatus;
  usage: TotpUsageStore;
  log: Logger;
  deviceContext?: Omit<DeviceContext, 'log'>;
  /** The doors' devices, opened before anything else by openDoorDevices; opened here when absent. */
  devices?: ReadonlyMap<string, DoorDevices>;
  emit(event: EventBody): void;
  feedback(feedback: DoorFeedback): void;
  /** Door state changed in a way worth persisting. */
  changed(): void;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * The doors of one gateway with everything they share: site rules, rooms, alarms, TOTP. Wires
 * each door's devices to its controller; an exception while deciding puts that door into its
 * fail mode and raises an alarm instead of taking the gateway down.
 */
export class DoorRuntime {
  readonly doors = new Map<string, RuntimeDoor>();
  readonly rooms = new Map<string, RoomState>();
  readonly rules: AccessRules;
  readonly alarms: AlarmBook;
  private readonly timers: TimerHandle[] = [];
  private readonly detach: Array<() => void> = [];

  constructor(private readonly options: DoorRuntimeOptions) {
    const { policy, clock, log } = options;
    this.alarms = new AlarmBook((event) => options.emit(event), options.conditions);
    this.rules = new AccessRules(
      {
        compliance: policy.compliance,
        badgeThrottle: throttleSettings(policy.badgeThrottle),
        readerThrottle: throttleSettings(policy.readerThrottle),
        offlineHorizonMs: policy.offlineHorizonHours * 3_600_000,
      },
      options.credentials,
      options.clockSync,
      this.alarms,
    );
    const totp = new TotpVerifier(
      options.totp,
      options.usage,
      policy.duress.enabled ? policy.duress.variant : undefined,
    );
    const opened =
      options.devices ?? openDoorDevices(options.doors, { log, clock, ...options.deviceContext });
    for (const door of options.doors) {
      const room = this.room(door.room);
      const devices = opened.get(door.id);
      if (!devices) throw new Error(`no devices opened for door "${door.id}"`);
      const controller = new DoorController(doorSettings(door), {
        clock,
        lock: devices.lock,
        keypad: devices.keypad,
        credentials: options.credentials,
        rules: this.rules,
        room,
        totp,
        emit: (event) => {
          options.emit(event);
          if (
            event.kind === 'access.granted' ||
            event.kind === 'access.denied' ||
            event.kind === 'room.occupancy'
          )
            options.changed();
        },
        feedback: (feedback) => {
          devices.indicator?.show(indicatorPattern(feedback));
          options.feedback(feedback);
        },
      });
      // The relay is in the door's fail mode already (openDoorDevices); the controller agrees.
      controller.enterFailMode();
      this.doors.set(door.id, { id: door.id, name: door.name, room: door.room, controller, devices });
    }
  }

  /** Applies persisted state, starts devices and controllers, and the periodic checks. */
  async start(state: DoorStateFile): Promise<void> {
    const { clock, log } = this.options;
    this.rules.badgeThrottle.restore(state.badgeThrottle);
    this.rules.readerThrottle.restore(state.readerThrottle);
    this.rules.siteLockdown = state.siteLockdown;
    this.rules.evacuation = state.evacuation;
    for (const [id, snapshot] of Object.entries(state.rooms)) this.rooms.get(id)?.restore(snapshot);
    this.timers.push(...resumeLockoutAlarms(this.alarms, this.rules, clock));
    for (const door of this.doors.values()) {
      let contactFailed = false;
      for (const { role, device } of devicesWithRoles(door.devices)) {
        this.detach.push(device.health.on((health) => this.deviceHealth(door.id, role, health)));
        try {
          await device.start();
          // A fault carried over a restart that the start did not report again is over.
          this.alarms.endCarriedOver(`device-fault:${door.id}:${role}`, `${role} ${device.name} started`);
        } catch (error) {
          // A door whose lock cannot be driven is not operable: stop with the adapter's message
          // (a missing GPIO line, no sysfs GPIO) rather than pretend. Other devices raise an alarm.
          if (role === 'lock') throw error;
          if (role === 'contact') contactFailed = true;
          log.error({ err: error, door: door.id, device: device.name }, 'device failed to start');
          this.deviceHealth(door.id, role, {
            device: device.name,
            state: 'fault',
            message: (error as Error).message,
          });
        }
      }
      this.wire(door);
      // A contact that did not start, or cannot be read, does not say whether the door is open.
      this.guard(door, () =>
        door.controller.start(contactFailed ? undefined : door.devices.contact.isOpen()),
      );
    }
    this.rules.checkHealth(clock.now());
    this.every(MINUTE, () => this.rules.checkHealth(clock.now()));
    this.forgetPeople();
    this.every(HOUR, () => this.forgetPeople());
    this.warnCompliance();
    this.every(DAY, () => this.warnCompliance());
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) timer.cancel();
    for (const off of this.detach) off();
    for (const door of this.doors.values()) {
      door.controller.stop();
      for (const { device } of devicesWithRoles(door.devices).reverse()) {
        try {
          await device.stop();
        } catch (error) {
          this.options.log.warn({ err: error, device: device.name }, 'device did not stop cleanly');
        }
      }
    }
  }

  snapshot(): Pick<
    DoorStateFile,
    'badgeThrottle' | 'readerThrottle' | 'rooms' | 'siteLockdown' | 'evacuation'
  > {
    return {
      badgeThrottle: this.rules.badgeThrottle.snapshot(),
      readerThrottle: this.rules.readerThrottle.snapshot(),
      rooms: Object.fromEntries([...this.rooms].map(([id, room]) => [id, room.snapshot()])),
      siteLockdown: this.rules.siteLockdown,
      evacuation: this.rules.evacuation,
    };
  }

  /**
   * Forgets what the door state keeps of people once it no longer serves: who has been inside a
   * room too long (RoomState.forget), a TOTP step too old to refuse any code still accepted, a
   * badge's wrong codes older than the throttle's window and lockouts that have ended, and all of
   * these for a person (a badge) not in the credential set. At start, hourly, and whenever a set
   * is applied, so that an erased person leaves the gateway's door state with their credentials.
   * A changed occupancy is reported; any change is written.
   */
  forgetPeople(): void {
    const { clock, credentials, totp, usage } = this.options;
    // Without a set (none yet, or the saved one unreadable), or with one holding no active
    // credential (seldom meant: credentials-empty), nobody is forgotten for not being in it:
    // under hard anti-passback a person forgotten inside could not badge out.
    const all = [...credentials.all()];
    const usable = credentials.syncedAt > 0 && all.some((credential) => credential.status === 'active');
    const persons = usable ? new Set(all.map((credential) => credential.person)) : undefined;
    const known = persons && ((person: string) => persons.has(person));
    const badges = usable ? new Set(all.map((credential) => badgeKey(credential.badge))) : undefined;
    const now = clock.now();
    const badgesDropped = this.rules.badgeThrottle.prune(now, (key) => badges?.has(key) ?? true);
    const readersDropped = this.rules.readerThrottle.prune(now);
    if (badgesDropped || readersDropped) this.options.changed();
    // A code's step is at least the current one less the drift allowed: a last step below that
    // refuses nothing the verifier would still accept.
    const oldest = Math.floor(now / (totp.periodSeconds * 1000)) - totp.driftSteps;
    usage.forget?.((person, step) => step >= oldest && (known?.(person) ?? true));
    for (const room of this.rooms.values())
      if (room.forget(now, known)) {
        this.options.emit({
          kind: 'room.occupancy',
          data: { room: room.settings.id, occupants: room.occupants },
        });
        this.options.changed();
      }
  }

  /** Lockdown of one room, or of the whole site without a room. */
  setLockdown(active: boolean, roomId?: string): void {
    if (roomId !== undefined) {
      const room = this.rooms.get(roomId);
      if (!room) throw new Error(`unknown room "${roomId}"; rooms: ${[...this.rooms.keys()].join(', ')}`);
      if (room.lockdown === active) return;
      room.lockdown = active;
    } else {
      if (this.rules.siteLockdown === active) return;
      this.rules.siteLockdown = active;
    }
    this.options.emit({
      kind: 'lockdown.changed',
      data: { active, ...(roomId !== undefined ? { room: roomId } : {}) },
    });
    if (active) {
      for (const door of this.doors.values()) {
        if (roomId === undefined || door.room === roomId)
          this.guard(door, () => door.controller.lockdownStarted());
      }
    }
    this.options.changed();
  }

  setEvacuation(active: boolean): void {
    if (this.rules.evacuation === active) return;
    this.rules.evacuation = active;
    this.options.emit({ kind: 'evacuation.changed', data: { active } });
    for (const door of this.doors.values()) this.guard(door, () => door.controller.setEvacuation(active));
    this.options.changed();
  }

  remoteUnlock(doorId: string, durationMs?: number): void {
    const door = this.doors.get(doorId);
    if (!door) throw new Error(`unknown door "${doorId}"`);
    this.guard(door, () => door.controller.remoteUnlock(durationMs));
  }

  private wire(door: RuntimeDoor): void {
    const { devices, controller } = door;
    this.detach.push(
      devices.entryReader.badges.on((badge) => this.guard(door, () => controller.badge(badge, 'in'))),
      devices.keypad.entries.on((digits) => this.guard(door, () => controller.code(digits))),
      devices.contact.changes.on((open) => this.guard(door, () => controller.contact(open))),
      devices.lock.changes.on((state) => this.guard(door, () => controller.relayChanged(state))),
    );
    if (devices.exitReader) {
      this.detach.push(
        devices.exitReader.badges.on((badge) => this.guard(door, () => controller.badge(badge, 'out'))),
      );
    }
    if (devices.rex)
      this.detach.push(devices.rex.presses.on(() => this.guard(door, () => controller.requestToExit())));
  }

  private guard(door: RuntimeDoor, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.options.log.error(
        { err: error, door: door.id },
        'door controller failed; door set to its fail mode',
      );
      try {
        door.controller.internalError((error as Error).message);
      } catch (inner) {
        this.options.log.fatal({ err: inner, door: door.id }, 'could not put the door into its fail mode');
      }
    }
  }

  private deviceHealth(
    door: string,
    role: DeviceRole,
    health: { device: string; state: 'ok' } | { device: string; state: 'fault'; message: string },
  ): void {
    const key = `device-fault:${door}:${role}`;
    if (health.state === 'fault') {
      this.alarms.raise({
        alarm: 'device-fault',
        key,
        severity: role === 'lock' || role === 'contact' ? 'critical' : 'warning',
        door,
        detail: `${role} ${health.device}: ${health.message}`,
      });
    } else {
      this.alarms.clear(key, `${role} ${health.device} is back`);
    }
  }

  private warnCompliance(): void {
    const warnings = complianceWarnings(
      this.options.credentials.all(),
      this.rules.settings.compliance,
      this.options.clock.now(),
    );
    for (const warning of warnings) this.options.emit({ kind: 'compliance.expiring', data: warning });
  }

  private every(ms: number, action: () => void): void {
    const schedule = () => {
      const handle = this.options.clock.setTimeout(() => {
        action();
        schedule();
      }, ms);
      this.timers.push(handle);
    };
    schedule();
  }

  private room(id: string): RoomState {
    let room = this.rooms.get(id);
    if (!room) {
      room = new RoomState(roomSettings(id, this.options.rooms, this.options.doors));
      this.rooms.set(id, room);
    }
    return room;
  }
}

/**
 * Builds every door's devices and drives each lock relay into its door's fail mode at once: the
 * first thing a gateway does, before it reads a key or a state file, so that a start that fails
 * later (or a crash during an unlock before it) never leaves a fail-secure door released. Throws
 * when a lock's output cannot be opened: such a door cannot be run.
 */
export function openDoorDevices(
  doors: readonly DoorConfig[],
  context: DeviceContext,
): Map<string, DoorDevices> {
  const opened = new Map<string, DoorDevices>();
  // One record of held hidraw nodes for every door: no two roles of the gateway read one device.
  const hidClaims = context.hidClaims ?? new HidClaims();
  for (const door of doors) {
    const devices = createDoorDevices(door.id, door.devices, {
      ...context,
      log: context.log.child({ door: door.id }),
      failMode: door.failMode,
      hidClaims,
    });
    devices.lock.driveFailMode();
    opened.set(door.id, devices);
  }
  return opened;
}

function indicatorPattern(feedback: DoorFeedback): IndicatorPattern {
  switch (feedback.outcome) {
    case 'awaiting-code':
    case 'awaiting-second-person':
      return 'awaiting-code';
    case 'granted':
      return 'granted';
    case 'denied':
      return 'denied';
    case 'door':
      return feedback.state === 'forced' || feedback.state === 'held-open' ? 'alarm' : 'idle';
    case 'ignored':
      return 'idle';
  }
}
