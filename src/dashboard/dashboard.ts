import { type KeyObject, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { type DashboardConfig, retentionSettings, staffSettings } from '../config/dashboard-config.js';
import { workstationSettings } from '../config/workstation-config.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { CodedError } from '../lib/coded-error.js';
import { KeyRing } from '../lib/key-ring.js';
import type { Logger } from '../lib/logger.js';
import { redactUrl } from '../lib/redact-url.js';
import { AuditLog } from './audit/audit-log.js';
import { type CentralKeyHistory, centralKeysFromConfig } from './audit/central-keys.js';
import { prepareAuditKeys } from './audit/signing-key-use.js';
import { AuthService } from './auth/auth-service.js';
import { StaffStore } from './auth/staff-store.js';
import { BrokerSide } from './broker-side.js';
import type { CentralMessenger } from './central-messenger.js';
import { dashboardMqtt } from './central-mqtt.js';
import { ClusterEvents } from './cluster-events.js';
import { clusterReactions } from './cluster-reactions.js';
import { trustConfiguredGateways } from './gateway-trust.js';
import { apiTls, listenApi } from './http/api-listener.js';
import { buildApp } from './http/app.js';
import type { EventIngest } from './ingest/event-ingest.js';
import type { GapScanner } from './ingest/gap-scanner.js';
import type { IngestPipeline } from './ingest/ingest-pipeline.js';
import { LiveHub } from './live-hub.js';
import type { GatewayWatchdog } from './monitoring/gateway-watchdog.js';
import { workstationSide } from './presence/lock-on-leave.js';
import type { LoginCheckThrottle } from './presence/login-check-throttle.js';
import type { PresenceService } from './presence/presence-service.js';
import type { WorkstationAgents } from './presence/workstation-agents.js';
import { WorkstationAuditExpiry } from './presence/workstation-audit-expiry.js';
import type { WorkstationLocker } from './presence/workstation-locker.js';
import { RetentionService } from './retention/retention-service.js';
import { ScheduledJobs } from './scheduled-jobs.js';
import { EXPORT_DIR_PREFIX, FOOTAGE_DIR_PREFIX, removeStaleScratchDirs } from './scratch-dirs.js';
import { AlarmStore } from './storage/alarm-store.js';
import { createPool } from './storage/database.js';
import { assertDatabaseReachable, prepareAfterMigration } from './storage/database-startup.js';
import { EventStore } from './storage/event-store.js';
import { GatewayRegistry } from './storage/gateway-registry.js';
import { LatestFactsStore } from './storage/latest-facts.js';
import { migrate, type StorageMode } from './storage/migrator.js';
import { PgOwedLockStore } from './storage/owed-lock-store.js';
import { PeopleStore } from './storage/people-store.js';
import { PhotoStore } from './storage/photo-store.js';
import { QuarantineStore } from './storage/quarantine-store.js';
import { SequenceStore } from './storage/sequence-store.js';
import { PgWorkstationSessionStore } from './storage/workstation-session-store.js';
import { WorkstationStore } from './storage/workstation-store.js';
import { waitForStoredSequence } from './stored-sequence-wait.js';

export interface DashboardOptions {
  config: DashboardConfig;
  log: Logger;
  clock?: Clock;
  databasePassword?: string;
  mqttPassword?: string;
  /** The central Ed25519 key that signs commands and credential sets. */
  signingKey?: KeyObject;
  /** 32 bytes sealing TOTP secrets at rest. */
  masterKey?: Buffer;
  /** Master keys that open sealed values but never seal: the previous (or next) key of a rotation. */
  masterDecryptOnly?: Buffer[];
  /** How often the gap scanner looks (tests shorten it). */
  gapScanMs?: number;
  gapGraceMs?: number;
  /** How long to wait for a requested resend before asking again. */
  gapResendMs?: number;
}

/**
 * The central process: migrates the database, ingests events from the broker, sends commands
 * and credential sets to gateways, serves the API and the live UI. Holds no state that
 * PostgreSQL or the broker do not also hold.
 */
export class Dashboard {
  readonly hub = new LiveHub();
  readonly pool: pg.Pool;
  readonly events: EventStore;
  readonly quarantine: QuarantineStore;
  readonly registry: GatewayRegistry;
  readonly sequences: SequenceStore;
  readonly alarms: AlarmStore;
  readonly people: PeopleStore;
  readonly photos: PhotoStore;
  readonly facts: LatestFactsStore;
  /** Policies, legal holds, runs, deletion log and erasure, for the API and the CLI. */
  readonly retention: RetentionService;
  readonly audit: AuditLog;
  readonly staff: StaffStore;
  /** Staff sign-in, sessions, the first administrator's setup token. */
  readonly auth: AuthService;
  readonly workstations: WorkstationStore;
  /** Who is in which room; answers workstation login checks. */
  readonly presence: PresenceService;
  /** Lock on leave's sender: owed locks are sent again until the workstations confirm them. */
  readonly locker: WorkstationLocker;
  /** Whether each workstation's lock agent runs. */
  readonly agents: WorkstationAgents;
  /** Denies a workstation's login checks beyond its rate, with an audit entry and an alarm per flood. */
  readonly loginChecks: LoginCheckThrottle;
  /** keys.signing and the keys it replaced, for the erased-rows list (audit/central-keys.ts). */
  private readonly centralKeys: CentralKeyHistory;
  /** This process's name among several dashboard instances sharing one database. */
  readonly instance = randomUUID();
  /** Publishes every stored event on the hub once, in ingest order, whichever instance stored it. */
  readonly cluster: ClusterEvents;
  /** The one-time token printed at start while no administrator exists. */
  setupToken: string | undefined;
  private readonly clock: Clock;
  private readonly masterKeys: KeyRing | undefined;
  private broker: BrokerSide | undefined;
  private jobs: ScheduledJobs | undefined;
  private app: FastifyInstance | undefined;
  storageMode: StorageMode | undefined;
  /** Set while the start waits for the broker: /healthz answers 503 with it. */
  private waitingFor: string | undefined;
  url: string | undefined;

  constructor(private readonly options: DashboardOptions) {
    // A retired key that is not one (a date that is no day, keys.signing itself) stops the start.
    this.centralKeys = centralKeysFromConfig(options.config.keys, options.signingKey);
    this.clock = options.clock ?? systemClock;
    this.pool = createPool(
      options.config.database,
      options.databasePassword,
      options.log.child({ component: 'db' }),
    );
    this.events = new EventStore(this.pool, this.clock);
    this.quarantine = new QuarantineStore(this.pool);
    this.registry = new GatewayRegistry(this.pool);
    this.sequences = new SequenceStore(this.pool);
    this.alarms = new AlarmStore(this.pool);
    this.masterKeys = options.masterKey
      ? new KeyRing(options.masterKey, options.masterDecryptOnly ?? [])
      : undefined;
    this.people = new PeopleStore(this.pool, this.masterKeys);
    this.photos = new PhotoStore(this.pool, this.masterKeys);
    this.facts = new LatestFactsStore(this.pool);
    this.audit = new AuditLog(this.pool);
    this.staff = new StaffStore(this.pool);
    this.auth = AuthService.overDatabase({
      pool: this.pool,
      staff: this.staff,
      audit: this.audit,
      alarms: this.alarms,
      alarmsChanged: (changed) => this.hub.publishAlarms(changed),
      keys: this.masterKeys,
      clock: this.clock,
      config: staffSettings(options.config),
    });
    this.workstations = new WorkstationStore(this.pool);
    const reactions = clusterReactions(() => this.broker?.messenger, this.registry, this.pool, options.log);
    this.cluster = new ClusterEvents({
      connectionString: this.pool.options.connectionString as string,
      instance: this.instance,
      local: this.hub,
      events: this.events,
      alarms: this.alarms,
      pool: this.pool,
      log: options.log.child({ component: 'cluster' }),
      // A badge-out this instance stores ends the presence (and locks the workstation) at once,
      // also while it does not hear the others.
      ownWhileNotHearing: (events) => this.presence.apply(events),
      ...reactions,
      // An erasure elsewhere ends the erased person's presence (and locks) now, not at the next refresh.
      credentialsChanged: (site) => {
        reactions.credentialsChanged(site);
        this.presence.refreshSoon('credentials changed');
      },
      workstationsChanged: () => this.presence.refreshSoon('a workstation was registered'),
    });
    const workstationsSide = workstationSide({
      pool: this.pool,
      silenceMs: workstationSettings(options.config).agentSilenceSeconds * 1000,
      store: this.workstations,
      sessions: new PgWorkstationSessionStore(this.pool),
      owed: new PgOwedLockStore(this.pool),
      alarms: this.alarms,
      alarmsChanged: (changed) => this.hub.publishAlarms(changed),
      hub: this.hub,
      clock: this.clock,
      settings: workstationSettings(options.config),
      hearsEveryInstance: () => this.cluster.hearing,
      messenger: () => this.messenger,
      signingKey: options.signingKey,
      audit: this.audit,
      log: options.log,
    });
    this.presence = workstationsSide.presence;
    this.locker = workstationsSide.locker;
    this.agents = workstationsSide.agents;
    this.loginChecks = workstationsSide.loginChecks;
    this.retention = new RetentionService({
      pool: this.pool,
      clock: this.clock,
      log: options.log.child({ component: 'retention' }),
      settings: retentionSettings(options.config),
      alarmsChanged: (changed) => this.hub.publishAlarms(changed),
      signingKey: options.signingKey,
      masterKeys: this.masterKeys,
      retiredKeys: this.centralKeys.retired,
    });
    this.retention.register(new WorkstationAuditExpiry(this.pool));
  }

  /**
   * Takes new master keys while running (SIGHUP): step one of a rotation adds the next key as
   * decrypt-only, step two makes it current; `identgate keys rotate-master` re-seals meanwhile.
   */
  reloadMasterKeys(current: Buffer, decryptOnly: Buffer[]): void {
    if (!this.masterKeys) {
      throw new CodedError('IDG_NO_MASTER_KEY', 'the dashboard started without keys.master; restart it');
    }
    this.masterKeys.replace(current, decryptOnly);
  }

  /** Trusts a gateway: its events are accepted and, with an encryption key, its credentials synced. */
  async trustGateway(
    site: string,
    gateway: string,
    publicKey: string,
    encryptionKey?: string,
  ): Promise<void> {
    await this.registry.register(site, gateway, publicKey, encryptionKey);
  }

  /** Starts everything or nothing: a failure part-way stops what had started. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (error) {
      await this.stop().catch((stopError: Error) =>
        this.options.log.warn({ err: stopError }, 'cleanup after failed start'),
      );
      throw error;
    }
  }

  private async startParts(): Promise<void> {
    const { config, log } = this.options;
    // TLS first: a listener that would be insecure stops the start before anything else.
    const https = apiTls(config.http);
    const mqtt = dashboardMqtt(config, this.options.mqttPassword);
    // Export bundles and decrypted footage a crashed process left in plaintext.
    await removeStaleScratchDirs([EXPORT_DIR_PREFIX, FOOTAGE_DIR_PREFIX], this.clock.now(), log);
    await assertDatabaseReachable(this.pool, config.database.url);
    const migration = await migrate(this.pool, log.child({ component: 'migrate' }));
    this.storageMode = migration.mode;
    await prepareAfterMigration(this.events, this.facts, this.clock, migration);
    await prepareAuditKeys({
      pool: this.pool,
      masterKeys: this.masterKeys,
      signingKey: this.options.signingKey,
      history: this.centralKeys,
      alarms: this.alarms,
      alarmsChanged: (changed) => this.hub.publishAlarms(changed),
      at: new Date(this.clock.now()),
      log,
    });
    await trustConfiguredGateways(this.registry, config.gateways, log);
    await this.cluster.start();
    await this.presence.start();
    this.locker.start();
    this.agents.start();
    await this.loginChecks.start();

    this.app = await buildApp({
      pool: this.pool,
      auth: this.auth,
      audit: this.audit,
      staff: this.staff,
      alarms: this.alarms,
      people: this.people,
      photos: this.photos,
      registry: this.registry,
      retention: this.retention,
      messenger: () => this.messenger,
      video: () => this.broker?.video,
      events: this.events,
      hub: this.hub,
      presence: this.presence,
      locker: this.locker,
      agents: this.agents,
      loginChecks: this.loginChecks,
      log: log.child({ component: 'http' }),
      ping: async () => {
        await this.pool.query('SELECT 1');
      },
      hearing: () => this.cluster.hearing,
      waitingFor: () => this.waitingFor,
      https,
      ...(config.http.trustedProxies ? { trustedProxies: config.http.trustedProxies } : {}),
      signingKey: this.options.signingKey,
      retiredKeys: this.centralKeys.retired,
    });
    this.url = await listenApi(this.app, config.http, https !== undefined);
    this.setupToken = await this.auth.setupToken();
    if (this.setupToken) {
      log.warn(
        { setupUrl: `${this.url}/#setup=${this.setupToken}` },
        'no administrator yet: open the setup URL within 24 hours to create the first one (the token works once)',
      );
    }
    this.jobs = new ScheduledJobs({
      config,
      auth: this.auth,
      retention: this.retention,
      pool: this.pool,
      signingKey: this.options.signingKey,
      centralKeys: this.centralKeys,
      alarms: this.alarms,
      alarmsChanged: (changed) => this.hub.publishAlarms(changed),
      clock: this.clock,
      log,
    });
    this.jobs.startHousekeeping();
    // Before anything that waits for the broker: deleting what has expired does not depend on it.
    this.jobs.startRetentionAndCheckpoints();
    // MQTT.js reconnects every second until the broker answers; meanwhile the API serves, but
    // commands, credential sets and the ingest do not work yet, and /healthz says so.
    this.waitingFor = `starting: waiting for the broker at ${redactUrl(config.mqtt.url)}`;

    this.broker = new BrokerSide({
      config,
      mqtt,
      pool: this.pool,
      signingKey: this.options.signingKey,
      registry: this.registry,
      people: this.people,
      alarms: this.alarms,
      audit: this.audit,
      events: this.events,
      sequences: this.sequences,
      quarantine: this.quarantine,
      facts: this.facts,
      hub: this.hub,
      instance: this.instance,
      cluster: this.cluster,
      masterKeys: this.masterKeys,
      clock: this.clock,
      log,
      gapScanMs: this.options.gapScanMs,
      gapGraceMs: this.options.gapGraceMs,
      gapResendMs: this.options.gapResendMs,
    });
    await this.broker.start(() => {
      this.waitingFor = undefined;
    });
  }

  /** Stops in a fixed order, each part's stop() keeping its own; also after a start that failed part-way. */
  async stop(): Promise<void> {
    this.hub.closeAll('shutting down');
    this.presence.stop();
    await this.locker.stop();
    await this.agents.stop();
    await this.cluster.stop();
    await this.jobs?.stop();
    await this.broker?.stop();
    await this.app?.close();
    this.app = undefined;
    // After the API: no check comes in any more to begin or count into a flood.
    await this.loginChecks.stop();
    if (!this.pool.ended) await this.pool.end();
  }

  /** Resolves once an event with at least sequence `seq` of that gateway is stored, or after `timeoutMs`. */
  async waitForSequence(site: string, gateway: string, seq: number, timeoutMs: number): Promise<boolean> {
    return waitForStoredSequence(this.hub, this.events, { site, gateway, seq }, timeoutMs);
  }

  get ingest(): EventIngest {
    return started(this.broker?.ingest);
  }

  /** What the ingest does with payloads once they arrive, for driving it without a broker (tests, benches). */
  get ingestPipeline(): IngestPipeline {
    return started(this.broker?.pipeline);
  }

  get messenger(): CentralMessenger {
    return started(this.broker?.messenger);
  }

  /** Raises `gateway-offline` for gateways gone quiet. */
  get gatewayWatchdog(): GatewayWatchdog {
    return started(this.broker?.gatewayWatchdog);
  }

  get gaps(): GapScanner {
    return started(this.broker?.gaps);
  }

  /** For tests: the Fastify instance, for `inject()`. */
  get http(): FastifyInstance {
    return started(this.app);
  }
}

/** A part the dashboard makes as it starts; 'dashboard not started' while there is none. */
function started<T>(part: T | undefined): T {
  if (!part) throw new Error('dashboard not started');
  return part;
}
