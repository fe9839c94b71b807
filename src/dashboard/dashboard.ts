import { type KeyObject, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import {
  type DashboardConfig,
  ingestProtocol,
  retentionSettings,
  staffSettings,
} from '../config/dashboard-config.js';
import { httpsOptions, mqttTlsOptions } from '../config/tls-material.js';
import { workstationSettings } from '../config/workstation-config.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { CodedError, hasCode } from '../lib/coded-error.js';
import { KeyRing } from '../lib/key-ring.js';
import { describeListenError } from '../lib/listen.js';
import type { Logger } from '../lib/logger.js';
import { assertListenerSecure } from '../lib/tls-profile.js';
import { AuditLog } from './audit/audit-log.js';
import { ChainCheckpointer } from './audit/chain-checkpoints.js';
import { CheckpointJob } from './audit/checkpoint-job.js';
import { AuthService } from './auth/auth-service.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { SessionStore } from './auth/session-store.js';
import { StaffStore } from './auth/staff-store.js';
import { CentralMessenger } from './central-messenger.js';
import { ClusterEvents } from './cluster-events.js';
import { buildApp } from './http/app.js';
import { EventIngest } from './ingest/event-ingest.js';
import { GapScanner } from './ingest/gap-scanner.js';
import { IngestPipeline } from './ingest/ingest-pipeline.js';
import { LiveHub } from './live-hub.js';
import { GatewayStatusWatch } from './monitoring/gateway-status-watch.js';
import { GatewayWatchdog } from './monitoring/gateway-watchdog.js';
import { PresenceService } from './presence/presence-service.js';
import { WorkstationAuditExpiry } from './presence/workstation-audit-expiry.js';
import { WorkstationLocker } from './presence/workstation-locker.js';
import { EventAgeLimit } from './retention/event-age-limit.js';
import { RetentionJob } from './retention/retention-job.js';
import { RetentionService } from './retention/retention-service.js';
import { AlarmStore } from './storage/alarm-store.js';
import { createPool, redactDatabaseUrl } from './storage/database.js';
import { EventStore } from './storage/event-store.js';
import { GatewayRegistry } from './storage/gateway-registry.js';
import { LATEST_FACTS_MIGRATION, LatestFactsStore } from './storage/latest-facts.js';
import { migrate, type StorageMode } from './storage/migrator.js';
import { DEFAULT_OVERVIEW_BOUNDS } from './storage/overview-store.js';
import { PeopleStore } from './storage/people-store.js';
import { PhotoStore } from './storage/photo-store.js';
import { QuarantineStore } from './storage/quarantine-store.js';
import { SequenceStore } from './storage/sequence-store.js';
import { WorkstationStore } from './storage/workstation-store.js';
import { VideoService } from './video/video-service.js';

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
  private ageLimit: EventAgeLimit | undefined;
  readonly audit: AuditLog;
  readonly staff: StaffStore;
  /** Staff sign-in, sessions, the first administrator's setup token. */
  readonly auth: AuthService;
  readonly workstations: WorkstationStore;
  /** Who is in which room; answers workstation login checks. */
  readonly presence: PresenceService;
  /** This process's name among several dashboard instances sharing one database. */
  readonly instance = randomUUID();
  /** Publishes every stored event on the hub once, in ingest order, whichever instance stored it. */
  readonly cluster: ClusterEvents;
  /** The one-time token printed at start while no administrator exists. */
  setupToken: string | undefined;
  private readonly clock: Clock;
  private readonly masterKeys: KeyRing | undefined;
  private ingestor: EventIngest | undefined;
  private pipeline: IngestPipeline | undefined;
  private messengerInstance: CentralMessenger | undefined;
  private video: VideoService | undefined;
  private gapScanner: GapScanner | undefined;
  private watchdog: GatewayWatchdog | undefined;
  private statusWatch: GatewayStatusWatch | undefined;
  private retentionJob: RetentionJob | undefined;
  private checkpointJob: CheckpointJob | undefined;
  private app: FastifyInstance | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
  storageMode: StorageMode | undefined;
  url: string | undefined;

  constructor(private readonly options: DashboardOptions) {
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
    const staff = staffSettings(options.config);
    this.auth = new AuthService({
      pool: this.pool,
      staff: this.staff,
      sessions: new SessionStore(this.pool),
      throttle: new LoginThrottle(this.pool),
      audit: this.audit,
      keys: this.masterKeys,
      clock: this.clock,
      settings: {
        idleMs: staff.idleMinutes * 60_000,
        absoluteMs: staff.absoluteHours * 3_600_000,
        reauthMs: staff.reauthMinutes * 60_000,
        issuer: staff.issuer,
      },
    });
    this.workstations = new WorkstationStore(this.pool);
    const locker = new WorkstationLocker({
      messenger: () => this.messenger,
      signingKey: options.signingKey,
      audit: this.audit,
      clock: this.clock,
      log: options.log.child({ component: 'presence' }),
    });
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
      credentialsChanged: (site) => {
        const messenger = this.messengerInstance;
        if (!messenger?.canSign) return;
        if (site === undefined) {
          messenger
            .publishAllCredentials()
            .catch((error: Error) =>
              options.log.error({ err: error }, 'credential sets not published again'),
            );
          return;
        }
        if (this.registry.ofSite(site).length === 0) return;
        messenger
          .publishCredentials(site)
          .catch((error: Error) =>
            options.log.error({ err: error, site }, 'credential sets not published after a change'),
          );
      },
      gatewaysRetired: async () => {
        const dropped = await this.registry.dropRetired();
        if (dropped.length > 0)
          options.log.warn({ gateways: dropped }, 'gateways retired: their events are refused from now on');
      },
    });
    this.presence = new PresenceService({
      store: this.workstations,
      hub: this.hub,
      clock: this.clock,
      log: options.log.child({ component: 'presence' }),
      settings: workstationSettings(options.config),
      hearsEveryInstance: () => this.cluster.hearing,
      // Lock on leave; the locker logs and audits its own failures.
      onLeave: (workstation, person, reason) => {
        locker
          .lock(workstation, person, reason)
          .catch((error: Error) =>
            options.log.error({ err: error, workstation: workstation.id }, 'lock on leave not audited'),
          );
      },
    });
    this.retention = new RetentionService({
      pool: this.pool,
      clock: this.clock,
      log: options.log.child({ component: 'retention' }),
      settings: retentionSettings(options.config),
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

  /**
   * Trusts the gateways the configuration lists, except retired ones (logged: a configuration not
   * updated after a retirement must not trust the gateway again), and names those trusted before
   * that it no longer lists: not trusted, their gaps stay open until they are retired.
   */
  private async trustConfigured(): Promise<void> {
    const { config, log } = this.options;
    for (const gateway of config.gateways) {
      try {
        await this.registry.register(gateway.site, gateway.id, gateway.publicKey, gateway.encryptionKey);
      } catch (error) {
        if (!hasCode(error, 'IDG_GATEWAY_RETIRED')) throw error;
        log.error(
          { site: gateway.site, gateway: gateway.id },
          `${(error as Error).message}; remove it from gateways:`,
        );
      }
    }
    const unlisted = await this.registry.unlisted(config.gateways);
    if (unlisted.length > 0)
      log.warn(
        { gateways: unlisted },
        'gateways trusted before are no longer listed under gateways: their events are refused; retire them (identgate gateways retire) to record what they still owe as lost',
      );
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
    // TLS is checked first: a dashboard that would listen in the clear, or with a certificate
    // outside the TLS profile, does not start at all.
    const { host, port } = config.http;
    assertListenerSecure(
      'dashboard',
      host,
      config.http.tls !== undefined,
      'Set http.tls (cert and key, see docs/security.md) or http.host: 127.0.0.1 behind a TLS-terminating proxy.',
    );
    const https = config.http.tls ? httpsOptions(config.http.tls) : undefined;
    const mqttTls = mqttTlsOptions(config.mqtt.tls, config.mqtt.url);
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      throw new CodedError(
        'IDG_DB_UNREACHABLE',
        `cannot reach PostgreSQL at ${redactDatabaseUrl(config.database.url)}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const migration = await migrate(this.pool, log.child({ component: 'migrate' }));
    this.storageMode = migration.mode;
    const today = this.clock.now();
    await this.events.ensurePartitions([
      new Date(today).toISOString().slice(0, 10),
      new Date(today + 86_400_000).toISOString().slice(0, 10),
    ]);
    // A database upgraded to the facts table gets its facts from the events stored before it;
    // from then on the ingest keeps them in the same transaction as the events.
    if (migration.applied.includes(LATEST_FACTS_MIGRATION)) {
      await this.facts.rebuild(DEFAULT_OVERVIEW_BOUNDS.lookbackDays);
    }
    await this.trustConfigured();
    await this.cluster.start();
    await this.presence.start();

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
      video: () => this.video,
      events: this.events,
      hub: this.hub,
      presence: this.presence,
      log: log.child({ component: 'http' }),
      ping: async () => {
        await this.pool.query('SELECT 1');
      },
      hearing: () => this.cluster.hearing,
      https,
      signingKey: this.options.signingKey,
    });
    try {
      await this.app.listen({ host, port });
    } catch (error) {
      throw describeListenError(
        error,
        'dashboard',
        host,
        port,
        'set http.port (IDENTGATE_HTTP__PORT) to a free port',
      );
    }
    const address = this.app.server.address();
    const boundPort = typeof address === 'object' && address ? address.port : port;
    this.url = `${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    this.setupToken = await this.auth.setupToken();
    if (this.setupToken) {
      log.warn(
        { setupUrl: `${this.url}/#setup=${this.setupToken}` },
        'no administrator yet: open the setup URL within 24 hours to create the first one (the token works once)',
      );
    }
    this.housekeeping = setInterval(() => {
      this.auth
        .housekeeping()
        .catch((error: Error) => log.warn({ err: error }, 'session housekeeping failed'));
    }, 10 * 60_000);
    this.housekeeping.unref();

    const clientId = config.mqtt.clientId ?? 'identgate-dashboard';
    this.messengerInstance = new CentralMessenger({
      url: config.mqtt.url,
      clientId: `${clientId}-messenger`,
      username: config.mqtt.username,
      password: this.options.mqttPassword,
      tls: mqttTls,
      signingKey: this.options.signingKey,
      registry: this.registry,
      people: this.people,
      pool: this.pool,
      clock: this.clock,
      log: log.child({ component: 'messenger' }),
      alarms: this.alarms,
      alarmsChanged: (alarms) => this.hub.publishAlarms(alarms),
    });
    await this.messengerInstance.start();
    const messenger = this.messengerInstance;
    // Every stored event reaches the hub, whichever instance stored it: so do command results.
    this.hub.subscribe({
      push: (events) => {
        try {
          messenger.onStored(events);
        } catch (error) {
          log.error({ err: error }, 'command results: could not read stored events');
        }
        return true;
      },
      close: () => undefined,
    });
    const video = new VideoService({
      client: {
        url: config.mqtt.url,
        clientId: `${clientId}-footage`,
        username: config.mqtt.username,
        password: this.options.mqttPassword,
        tls: mqttTls,
        signingKey: this.options.signingKey,
        registry: this.registry,
      },
      pool: this.pool,
      audit: this.audit,
      clock: this.clock,
      log: log.child({ component: 'video' }),
    });
    await video.start();
    this.video = video;
    const ageLimit = new EventAgeLimit(
      this.pool,
      retentionSettings(config).defaultDays,
      log.child({ component: 'ingest' }),
    );
    await ageLimit.start();
    this.ageLimit = ageLimit;
    const pipeline = new IngestPipeline({
      pool: this.pool,
      events: this.events,
      sequences: this.sequences,
      alarms: this.alarms,
      quarantine: this.quarantine,
      registry: this.registry,
      facts: this.facts,
      hub: this.hub,
      instance: this.instance,
      cluster: this.cluster,
      log: log.child({ component: 'ingest' }),
      tooOld: (site, kind, at, now) => ageLimit.tooOld(site, kind, at, now),
      afterCommit: (stored) => {
        messenger.onEvents(stored);
        // Also at once: while this instance does not hear the others, its hub gets nothing.
        messenger.onStored(stored);
      },
    });
    this.pipeline = pipeline;
    this.ingestor = new EventIngest({
      url: config.mqtt.url,
      clientId,
      username: config.mqtt.username,
      password: this.options.mqttPassword,
      tls: mqttTls,
      sites: config.ingest.sites,
      knownSites: [...new Set(config.gateways.map((g) => g.site))],
      protocol: ingestProtocol(config.ingest.mqttProtocol),
      verifyThreads: config.ingest.verifyThreads ?? 1,
      pipeline,
      log: log.child({ component: 'ingest' }),
    });
    await this.ingestor.start();
    this.gapScanner = new GapScanner({
      pool: this.pool,
      sequences: this.sequences,
      alarms: this.alarms,
      messenger,
      clock: this.clock,
      log: log.child({ component: 'gaps' }),
      intervalMs: this.options.gapScanMs,
      graceMs: this.options.gapGraceMs,
      resendEveryMs: this.options.gapResendMs,
      alarmsChanged: (alarms) => this.hub.publishAlarms(alarms),
    });
    this.gapScanner.start();
    this.watchdog = new GatewayWatchdog({
      pool: this.pool,
      alarms: this.alarms,
      log: log.child({ component: 'gateways' }),
      offlineAfterMs: (config.ingest.offlineAfterSeconds ?? 180) * 1000,
      alarmsChanged: (alarms) => this.hub.publishAlarms(alarms),
    });
    this.watchdog.start();
    this.statusWatch = new GatewayStatusWatch({
      mqtt: {
        url: config.mqtt.url,
        clientId: `${clientId}-status`,
        ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
        ...(this.options.mqttPassword ? { password: this.options.mqttPassword } : {}),
        ...(mqttTls ? { tls: mqttTls } : {}),
      },
      sites: config.ingest.sites,
      pool: this.pool,
      alarms: this.alarms,
      log: log.child({ component: 'gateways' }),
      offlineAfterMs: (config.ingest.offlineAfterSeconds ?? 180) * 1000,
      alarmsChanged: (alarms) => this.hub.publishAlarms(alarms),
    });
    await this.statusWatch.start();
    const retention = retentionSettings(config);
    if (retention.enabled) {
      this.retentionJob = new RetentionJob({
        service: this.retention,
        clock: this.clock,
        log: log.child({ component: 'retention' }),
        intervalMs: retention.intervalMinutes * 60_000,
      });
      this.retentionJob.start();
    }
    if (this.options.signingKey) {
      const checkpointer = new ChainCheckpointer(this.pool, this.options.signingKey);
      this.checkpointJob = new CheckpointJob(
        checkpointer,
        this.clock,
        log.child({ component: 'audit-chain' }),
      );
      this.checkpointJob.start();
      await messenger.publishAllCredentials();
    }
  }

  async stop(): Promise<void> {
    this.hub.closeAll('shutting down');
    this.presence.stop();
    await this.cluster.stop();
    clearInterval(this.housekeeping);
    await this.retentionJob?.stop();
    this.retentionJob = undefined;
    await this.checkpointJob?.stop();
    this.checkpointJob = undefined;
    await this.gapScanner?.stop();
    this.gapScanner = undefined;
    await this.watchdog?.stop();
    this.watchdog = undefined;
    await this.statusWatch?.stop();
    this.statusWatch = undefined;
    await this.ingestor?.stop();
    this.ingestor = undefined;
    this.ageLimit?.stop();
    this.ageLimit = undefined;
    await this.messengerInstance?.stop();
    this.messengerInstance = undefined;
    await this.video?.stop();
    this.video = undefined;
    await this.app?.close();
    this.app = undefined;
    if (!this.pool.ended) await this.pool.end();
  }

  /** Resolves once an event with at least sequence `seq` of that gateway is stored, or after `timeoutMs`. */
  async waitForSequence(site: string, gateway: string, seq: number, timeoutMs: number): Promise<boolean> {
    const matches = (e: { site: string; gateway: string; seq: number }) =>
      e.site === site && e.gateway === gateway && e.seq >= seq;
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (result: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        resolve(result);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      // Subscribe before looking in the database so that nothing stored in between is missed.
      const unsubscribe = this.hub.subscribe({
        push: (events) => {
          if (events.some(matches)) finish(true);
          return true;
        },
        close: () => finish(false),
      });
      this.events.latestSequences().then(
        (latest) => latest.some(matches) && finish(true),
        () => finish(false),
      );
    });
  }

  get ingest(): EventIngest {
    if (!this.ingestor) throw new Error('dashboard not started');
    return this.ingestor;
  }

  /** What the ingest does with payloads once they arrive, for driving it without a broker (tests, benches). */
  get ingestPipeline(): IngestPipeline {
    if (!this.pipeline) throw new Error('dashboard not started');
    return this.pipeline;
  }

  get messenger(): CentralMessenger {
    if (!this.messengerInstance) throw new Error('dashboard not started');
    return this.messengerInstance;
  }

  /** Raises `gateway-offline` for gateways gone quiet. */
  get gatewayWatchdog(): GatewayWatchdog {
    if (!this.watchdog) throw new Error('dashboard not started');
    return this.watchdog;
  }

  get gaps(): GapScanner {
    if (!this.gapScanner) throw new Error('dashboard not started');
    return this.gapScanner;
  }

  /** For tests: the Fastify instance, for `inject()`. */
  get http(): FastifyInstance {
    if (!this.app) throw new Error('dashboard not started');
    return this.app;
  }
}
