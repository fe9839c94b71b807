import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { GatewayConfig } from '../config/gateway-config.js';
import { DoorController } from '../controllers/door-controller.js';
import type { DoorFeedback } from '../controllers/door-ports.js';
import { TotpVerifier } from '../controllers/totp-verifier.js';
import { type Clock, systemClock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { TypedBus } from '../lib/typed-bus.js';
import type { Envelope } from '../protocol/envelope.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { topics } from '../protocol/topics.js';
import { CredentialCache } from './credential-cache.js';
import { createDoorDevices } from './devices/device-factory.js';
import { type DoorDevices, devicesWithRoles } from './devices/device-ports.js';
import { EventRecorder } from './event-recorder.js';
import { type GatewayIdentity, loadOrCreateIdentity } from './gateway-identity.js';
import { GatewayLink } from './gateway-link.js';
import { OutboxJournal } from './outbox/outbox-journal.js';
import { SimControlServer, type SimDoor } from './sim-control.js';

export interface GatewayBusEvents extends Record<string, unknown> {
  feedback: DoorFeedback;
  /** An event was signed and written to the outbox. */
  recorded: Envelope;
  /** The broker acknowledged the event with this sequence number. */
  acked: number;
}

export interface GatewayOptions {
  config: GatewayConfig;
  log: Logger;
  clock?: Clock;
  mqttPassword?: string;
  credentialKey?: string;
  version?: string;
}

interface GatewayDoor extends SimDoor {
  controller: DoorController;
  devices: DoorDevices;
}

/**
 * The edge process: wires each door's devices to its controller, signs every event, keeps it in
 * the crash-safe outbox and publishes it. Keeps deciding while the broker is away.
 */
export class Gateway {
  readonly bus: TypedBus<GatewayBusEvents>;
  readonly doors = new Map<string, GatewayDoor>();
  readonly credentials: CredentialCache;
  readonly stateDir: string;
  private readonly clock: Clock;
  private readonly journal: OutboxJournal;
  private readonly identity: GatewayIdentity;
  private recorder: EventRecorder | undefined;
  private link: GatewayLink | undefined;
  private sim: SimControlServer | undefined;
  private started = false;

  constructor(private readonly options: GatewayOptions) {
    const { config, log } = options;
    this.clock = options.clock ?? systemClock;
    this.bus = new TypedBus(log);
    this.stateDir = resolve(config.stateDir);
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    this.identity = loadOrCreateIdentity(this.stateDir);
    this.credentials = new CredentialCache(this.stateDir, options.credentialKey);
    this.journal = new OutboxJournal({
      dir: join(this.stateDir, 'outbox'),
      log: log.child({ component: 'outbox' }),
    });
    const totp = new TotpVerifier(config.totp);
    for (const door of config.doors) {
      const devices = createDoorDevices(door.id, door.devices, { log: log.child({ door: door.id }) });
      const controller = new DoorController(
        {
          id: door.id,
          unlockMs: door.unlockSeconds * 1000,
          codeTimeoutMs: door.codeTimeoutSeconds * 1000,
          heldOpenMs: door.heldOpenSeconds * 1000,
          failMode: door.failMode,
        },
        {
          clock: this.clock,
          lock: devices.lock,
          credentials: this.credentials,
          emit: (event) => {
            this.record(event);
            if (event.kind.startsWith('door.')) this.publishDoorState(door.id);
          },
          feedback: (feedback) => this.bus.emit('feedback', feedback),
        },
        totp,
      );
      this.doors.set(door.id, { id: door.id, name: door.name, room: door.room, devices, controller });
    }
  }

  /** `ed25519:…`, the key the central side must trust for this gateway's events. */
  get publicKey(): string {
    return this.identity.publicKeyText;
  }

  /** The sequence number of the last event recorded. */
  get lastSequence(): number {
    return this.journal.lastSequence;
  }

  get simSocketPath(): string {
    return join(this.stateDir, 'sim.sock');
  }

  /** Starts in a safe order: every relay to its fail mode first, then state, then the network. */
  async start(): Promise<void> {
    const { config, log } = this.options;
    for (const door of this.doors.values()) door.controller.start(false);
    this.credentials.load();
    const recovered = this.journal.recover();
    if (recovered.length > 0)
      log.info({ events: recovered.length }, 'outbox: resending events from the last run');
    this.link = new GatewayLink({
      url: config.mqtt.url,
      clientId: config.mqtt.clientId ?? `identgate-gw-${config.site}-${config.id}`,
      username: config.mqtt.username,
      password: this.options.mqttPassword,
      site: config.site,
      gateway: config.id,
      journal: this.journal,
      log: log.child({ component: 'mqtt' }),
    });
    this.link.onAcked = (seq) => this.bus.emit('acked', seq);
    this.recorder = new EventRecorder(
      config.site,
      config.id,
      this.identity.privateKey,
      this.journal,
      this.clock,
      (record) => this.link?.enqueue(record),
      (error, envelope) =>
        log.error({ err: error, kind: envelope.kind, id: envelope.id }, 'outbox write failed'),
    );
    this.link.start();
    for (const door of this.doors.values()) {
      const { devices, controller } = door;
      await Promise.all([
        devices.entryReader.start(),
        devices.keypad.start(),
        devices.lock.start(),
        devices.contact.start(),
      ]);
      devices.entryReader.badges.on((badge) => controller.badge(badge));
      devices.keypad.entries.on((digits) => controller.code(digits));
      devices.contact.changes.on((open) => controller.contact(open));
      controller.start(devices.contact.isOpen());
    }
    this.started = true;
    this.record({
      kind: 'gateway.online',
      data: { version: this.options.version ?? '0.0.0', doors: [...this.doors.keys()] },
    });
    for (const id of this.doors.keys()) this.publishDoorState(id);
    if (config.simControl) {
      this.sim = new SimControlServer(
        this.simSocketPath,
        this.doors,
        (action) => this.captureFeedback(action),
        log.child({ component: 'sim' }),
      );
      await this.sim.start();
    }
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.sim?.stop();
    this.record({ kind: 'gateway.offline', data: { reason: 'shutdown' } });
    for (const door of this.doors.values()) {
      door.controller.stop();
      const { devices } = door;
      await Promise.all([
        devices.entryReader.stop(),
        devices.keypad.stop(),
        devices.contact.stop(),
        devices.lock.stop(),
      ]);
    }
    await this.journal.flush();
    await this.link?.stop();
    await this.journal.close();
  }

  /** Records one event: signed, journaled, then published. */
  record(body: EventBody): Envelope {
    if (!this.recorder) throw new Error('gateway not started');
    const envelope = this.recorder.record(body);
    this.bus.emit('recorded', envelope);
    return envelope;
  }

  /** Waits until the outbox holds nothing unacknowledged (for tests and orderly shutdown). */
  async drained(): Promise<void> {
    await this.journal.flush();
    if (this.journal.size.records === 0) return;
    await new Promise<void>((resolve) => {
      const off = this.bus.on('gateway', 'acked', () => {
        if (this.journal.size.records === 0) {
          off();
          resolve();
        }
      });
    });
  }

  private captureFeedback(action: () => void): DoorFeedback[] {
    const seen: DoorFeedback[] = [];
    const off = this.bus.on('sim-control', 'feedback', (feedback) => seen.push(feedback));
    try {
      action();
    } finally {
      off();
    }
    return seen;
  }

  private publishDoorState(doorId: string): void {
    const door = this.doors.get(doorId);
    if (!door || !this.link) return;
    const state = {
      door: doorId,
      lock: door.devices.lock.state,
      contact: door.devices.contact.isOpen() ? 'open' : 'closed',
      time: new Date(this.clock.now()).toISOString(),
    };
    this.link.publishRetained(
      topics.doorState(this.options.config.site, this.options.config.id, doorId),
      JSON.stringify(state),
    );
  }
}
