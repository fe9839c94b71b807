import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mqttTlsOptions } from '../config/tls-material.js';
import type { DoorFeedback } from '../controllers/door-ports.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { TypedBus } from '../lib/typed-bus.js';
import type { Envelope } from '../protocol/envelope.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { topics } from '../protocol/topics.js';
import { AlarmConditionFile } from './alarm-condition-file.js';
import { CarriedConditions } from './carried-conditions.js';
import { CentralWiring } from './central-wiring.js';
import { ClockSyncMonitor, clockProbe } from './clock-sync-monitor.js';
import { CredentialCache } from './credential-cache.js';
import { DoorRuntime, openDoorDevices, type RuntimeDoor } from './door-runtime.js';
import { EventRecorder } from './event-recorder.js';
import { type GatewayIdentity, IDENTITY_FILE, loadOrCreateIdentity } from './gateway-identity.js';
import { type KeyReload, type KeysReloaded, rewrapVideoKeys, StateKeys } from './gateway-keys.js';
import { GatewayLink } from './gateway-link.js';
import type { GatewayBusEvents, GatewayOptions } from './gateway-options.js';
import { GatewayStateStore } from './gateway-state-store.js';
import { publishRetainedDoorState, startStatusReports } from './gateway-status.js';
import { OutboxJournal } from './outbox/outbox-journal.js';
import { eventsLost, outboxWriteFailed } from './outbox-alarms.js';
import { createFootageHousekeeping, createRecorder } from './recorder/create-recorder.js';
import type { FootageHousekeeping } from './recorder/footage-housekeeping.js';
import type { Recorder } from './recorder/recorder.js';
import { SimControlServer } from './sim-control.js';
import { doorStateLost, loadSavedCredentials, lostBoundChecked } from './state-recovery.js';
import { followUpVideo } from './video-follow-up.js';
import { followUpVideoHousekeeping } from './video-housekeeping-alarms.js';

/**
 * The edge process: wires each door's devices to its controller, signs every event, keeps it in
 * the crash-safe outbox and publishes it. Keeps deciding while the broker is away.
 */
export class Gateway {
  readonly bus: TypedBus<GatewayBusEvents>;
  readonly credentials: CredentialCache;
  readonly stateDir: string;
  readonly runtime: DoorRuntime;
  readonly clockSync: ClockSyncMonitor;
  private readonly clock: Clock;
  private readonly journal: OutboxJournal;
  private readonly state: GatewayStateStore;
  private readonly carried: CarriedConditions;
  private readonly identity: GatewayIdentity;
  /** Whether this gateway ran in its state directory before (its identity was there): see start. */
  private readonly ranBefore: boolean;
  private readonly stateKeys: StateKeys;
  private eventRecorder: EventRecorder | undefined;
  private resent = 0;
  private link: GatewayLink | undefined;
  private sim: SimControlServer | undefined;
  private central: CentralWiring | undefined;
  private stopStatusReports: (() => void) | undefined;
  private recorder: Recorder | undefined;
  /** Without cameras: the retention of the footage removed cameras left behind (docs/video.md). */
  private housekeeping: FootageHousekeeping | undefined;
  private started = false;
  /** Events that occur before the outbox is open (fail mode at boot) wait here. */
  private early: EventBody[] = [];

  constructor(private readonly options: GatewayOptions) {
    const { config, log } = options;
    this.clock = options.clock ?? systemClock;
    // The relays go to their doors' fail modes before any key or file is read: a step below that
    // throws must not leave a door released by a run that crashed during an unlock.
    const devices = openDoorDevices(config.doors, { log, clock: this.clock, ...options.deviceContext });
    this.bus = new TypedBus(log);
    this.stateDir = resolve(config.stateDir);
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    this.stateKeys = new StateKeys(
      this.stateDir,
      options.credentialKey,
      options.credentialKeyDecryptOnly,
      log,
    );
    this.ranBefore = existsSync(join(this.stateDir, IDENTITY_FILE));
    this.identity = loadOrCreateIdentity(this.stateDir, this.stateKeys.ring);
    this.credentials = new CredentialCache(this.stateDir, this.stateKeys.ring);
    this.stateKeys.reseal(this.credentials);
    this.journal = new OutboxJournal({
      dir: join(this.stateDir, 'outbox'),
      log: log.child({ component: 'outbox' }),
      ...options.outboxDisk,
      onDropped: (fromSeq, toSeq) =>
        eventsLost(
          this.runtime.alarms,
          fromSeq,
          toSeq,
          'the outbox dropped them unsent (full, or its disk refused them)',
        ),
      onWriteFailed: (error, waiting) => outboxWriteFailed(this.runtime.alarms, error, waiting),
      onWriteRecovered: () => this.runtime.alarms.clear('outbox-write-failed'),
    });
    const stateLog = log.child({ component: 'state' });
    this.state = new GatewayStateStore(this.stateDir, stateLog, undefined, this.clock);
    this.clockSync = new ClockSyncMonitor(
      options.clockProbe ?? clockProbe(config.policy.clockSync, this.clock),
      config.policy.clockSync.checkIntervalSeconds * 1000,
      this.clock,
      log.child({ component: 'clock-sync' }),
    );
    const alarmLog = log.child({ component: 'alarms' });
    const conditions = new AlarmConditionFile(this.stateDir, alarmLog);
    this.runtime = new DoorRuntime({
      conditions,
      doors: config.doors,
      rooms: config.rooms,
      policy: config.policy,
      totp: config.totp,
      clock: this.clock,
      credentials: this.credentials,
      clockSync: this.clockSync,
      usage: this.state,
      log,
      devices,
      emit: (event) => this.emitEvent(event),
      feedback: (feedback) => this.bus.emit('feedback', feedback),
      changed: () => this.state.changed(),
    });
    this.carried = new CarriedConditions(this.runtime.alarms, conditions, this.clock, alarmLog);
    this.clockSync.onChange = (synchronised) => {
      this.runtime.rules.checkHealth(this.clock.now());
      if (synchronised) lostBoundChecked(this.state, log);
    };
    this.state.snapshot = () => this.runtime.snapshot();
  }

  /**
   * Takes new keys while running (SIGHUP during a rotation) and re-seals every file under them:
   * the state key (identity, credential cache) and the video site key (day keys).
   */
  reloadKeys(keys: KeyReload): KeysReloaded {
    return this.stateKeys.reload(keys, this.credentials, this.recorder ?? this.housekeeping);
  }

  get doors(): Map<string, RuntimeDoor> {
    return this.runtime.doors;
  }

  /** `ed25519:…`, the key the central side must trust for this gateway's events. */
  get publicKey(): string {
    return this.identity.publicKeyText;
  }

  /** `p256:…`, the key the central side encrypts this gateway's credential set to. */
  get encryptionKey(): string {
    return this.identity.encryptionKeyText;
  }

  /** The sequence number of the last event recorded. */
  get lastSequence(): number {
    return this.journal.lastSequence;
  }

  /** How many events the last start found in the outbox unacknowledged, and sent again. */
  get resentAtStart(): number {
    return this.resent;
  }

  get simSocketPath(): string {
    return join(this.stateDir, 'sim.sock');
  }

  /**
   * Starts in a safe order: the relays went to their fail modes in the constructor; then local
   * state, the outbox, the clock check, the doors, and last the network.
   */
  async start(): Promise<void> {
    const { config, log } = this.options;
    // A configuration mistake in TLS stops the start before anything else moves.
    const tls = mqttTlsOptions(config.mqtt.tls, config.mqtt.url);
    this.carried.load();
    loadSavedCredentials(this.credentials, this.runtime.alarms, this.clock, log);
    const periodMs = config.totp.periodSeconds * 1000;
    const doorState = this.state.load(Math.floor(this.clock.now() / periodMs) + config.totp.driftSteps, {
      ranBefore: this.ranBefore,
    });
    if (this.state.lost)
      doorStateLost(this.runtime.alarms, this.state.lost, this.state.issuedThrough(), (event) =>
        this.emitEvent(event),
      );
    const recovered = this.journal.recover();
    this.resent = recovered.length;
    if (recovered.length > 0)
      log.info({ events: recovered.length }, 'outbox: resending events from the last run');
    this.link = new GatewayLink({
      url: config.mqtt.url,
      clientId: config.mqtt.clientId ?? `identgate-gw-${config.site}-${config.id}`,
      username: config.mqtt.username,
      password: this.options.mqttPassword,
      tls,
      site: config.site,
      gateway: config.id,
      journal: this.journal,
      signingKey: this.identity.privateKey,
      log: log.child({ component: 'mqtt' }),
    });
    this.link.onAcked = (seq) => this.bus.emit('acked', seq);
    // A resumed session is not subscribed again, so the retained set would not come (see
    // GatewayLink.onReconnected): subscribed again, the broker sends the newest set at once,
    // with no request to queue behind a backlog and no work for the central side.
    this.link.onReconnected = (sessionPresent) => {
      if (sessionPresent) this.link?.resubscribe(topics.credentials(config.site, config.id));
    };
    this.eventRecorder = new EventRecorder({
      site: config.site,
      gateway: config.id,
      signingKey: this.identity.privateKey,
      journal: this.journal,
      clock: this.clock,
      alarms: this.runtime.alarms,
      log: log.child({ component: 'events' }),
      onDurable: (record, envelope) => {
        this.carried.durable();
        this.bus.emit('durable', envelope);
        this.link?.enqueue(record);
      },
      onFailure: (error, envelope) =>
        log.error({ err: error, kind: envelope.kind, id: envelope.id }, 'outbox write failed'),
    });
    for (const event of this.early.splice(0)) this.emitEvent(event);
    this.started = true;
    this.record({
      kind: 'gateway.online',
      data: { version: this.options.version ?? '0.0.0', doors: [...this.doors.keys()] },
    });
    for (const [fromSeq, toSeq] of this.journal.recoveryLosses)
      eventsLost(
        this.runtime.alarms,
        fromSeq,
        toSeq,
        'they were not in the outbox at start (given up, dropped or damaged)',
      );
    await this.clockSync.start();
    await this.runtime.start(doorState);
    // Commands and the credential set arrive from the central side over the same connection.
    this.central = new CentralWiring({
      config,
      link: this.link,
      identity: this.identity,
      credentials: this.credentials,
      journal: this.journal,
      memory: this.state,
      runtime: this.runtime,
      clock: this.clock,
      log,
      record: (event) => this.emitEvent(event),
      recorder: () => this.recorder,
      reportAlarms: (request, salt) => this.carried.report(request, salt),
    });
    this.link.start();
    for (const id of this.doors.keys()) this.publishDoorState(id);
    this.central.requestCredentials();
    this.stopStatusReports = startStatusReports({
      journal: this.journal,
      alarms: this.runtime.alarms,
      credentials: this.credentials,
      clock: this.clock,
      heartbeatMs: config.heartbeatSeconds * 1000,
      record: (body) => this.record(body),
    });
    if (config.video.cameras.length > 0) {
      this.recorder = createRecorder({
        video: config.video,
        stateDir: this.stateDir,
        clock: this.clock,
        clockSync: this.clockSync,
        log: log.child({ component: 'recorder' }),
        emit: (kind, data) => this.emitEvent({ kind, data } as EventBody),
      });
      rewrapVideoKeys(this.recorder, log);
      await this.recorder.start();
    } else {
      this.startFootageHousekeeping();
    }
    if (config.simControl) {
      this.sim = new SimControlServer(
        this.simSocketPath,
        this.doors,
        (action) => this.captureFeedback(action),
        log.child({ component: 'sim' }),
      );
      await this.sim.start();
    }
    this.carried.settle(config.alarmSettleSeconds * 1000);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.sim?.stop();
    this.stopStatusReports?.();
    this.carried.stop();
    await this.recorder?.stop();
    await this.housekeeping?.stop();
    this.clockSync.stop();
    await this.runtime.stop();
    this.central?.close();
    await this.carried.close(); // alarm events waiting for their file go out before the last event
    this.record({ kind: 'gateway.offline', data: { reason: 'shutdown' } });
    this.state.close();
    await this.journal.flush();
    await this.link?.stop();
    await this.journal.close();
  }

  /**
   * Footage and day keys of cameras no longer configured still expire, with the retention each
   * camera last had. A failure here is logged, not fatal: the doors do not wait on old footage.
   */
  private startFootageHousekeeping(): void {
    const log = this.options.log;
    try {
      this.housekeeping = createFootageHousekeeping({
        video: this.options.config.video,
        stateDir: this.stateDir,
        clock: this.clock,
        clockSync: this.clockSync,
        log,
        emit: (kind, data) => this.emitEvent({ kind, data } as EventBody),
      });
      if (!this.housekeeping) return;
      rewrapVideoKeys(this.housekeeping, log);
      // Not awaited: the gateway's start does not wait on old footage (each job logs its failures).
      void this.housekeeping.start();
    } catch (error) {
      this.housekeeping = undefined;
      log.error(
        { err: error },
        'video: footage of cameras no longer configured cannot be looked after; it is not expired',
      );
    }
  }

  /** Records one event: signed, journaled, then published. */
  record(body: EventBody): Envelope {
    if (!this.eventRecorder) throw new Error('gateway not started');
    const envelope = this.eventRecorder.record(body);
    this.bus.emit('recorded', envelope);
    if (body.kind.startsWith('door.') && 'door' in body.data && body.data.door)
      this.publishDoorState(body.data.door);
    followUpVideo(envelope, this.runtime.alarms, this.recorder, this.doors);
    followUpVideoHousekeeping(envelope, this.runtime.alarms);
    return envelope;
  }

  /** Events from the doors; those raised before the outbox is open wait for it. */
  private emitEvent(body: EventBody): void {
    if (this.eventRecorder) this.record(body);
    else this.early.push(body);
  }

  setLockdown(active: boolean, room?: string): void {
    this.runtime.setLockdown(active, room);
  }

  setEvacuation(active: boolean): void {
    this.runtime.setEvacuation(active);
  }

  remoteUnlock(door: string, durationMs?: number): void {
    this.runtime.remoteUnlock(door, durationMs);
  }

  /**
   * Waits until the outbox holds nothing unacknowledged, and nothing waits to be written, alarm
   * events waiting for their conditions file included (for tests and orderly shutdown).
   */
  async drained(): Promise<void> {
    await this.carried.flushed();
    await this.journal.flush();
    const empty = () => this.journal.size.records === 0 && this.journal.waiting === 0;
    if (empty()) return;
    await new Promise<void>((resolvePromise) => {
      const off = this.bus.on('gateway', 'acked', () => {
        if (empty()) {
          off();
          resolvePromise();
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
    publishRetainedDoorState(this.link, this.options.config, doorId, door, this.clock);
  }
}
