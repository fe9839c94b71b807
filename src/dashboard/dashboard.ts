import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { DashboardConfig } from '../config/dashboard-config.js';
import { CodedError } from '../lib/coded-error.js';
import { describeListenError } from '../lib/listen.js';
import type { Logger } from '../lib/logger.js';
import { importPublicKey } from '../protocol/signing.js';
import { buildApp } from './http/app.js';
import { EventIngest } from './ingest/event-ingest.js';
import { LiveHub } from './live-hub.js';
import { createPool, redactDatabaseUrl } from './storage/database.js';
import { EventStore } from './storage/event-store.js';
import { migrate, type StorageMode } from './storage/migrator.js';
import { QuarantineStore } from './storage/quarantine-store.js';

export interface DashboardOptions {
  config: DashboardConfig;
  log: Logger;
  databasePassword?: string;
  mqttPassword?: string;
}

/**
 * The central process: migrates the database, ingests events from the broker, serves the API
 * and the live UI. Holds no state that PostgreSQL or the broker do not also hold.
 */
export class Dashboard {
  readonly hub = new LiveHub();
  readonly pool: pg.Pool;
  readonly events: EventStore;
  readonly quarantine: QuarantineStore;
  private readonly trusted = new Map<string, KeyObject>();
  private ingestor: EventIngest | undefined;
  private app: FastifyInstance | undefined;
  storageMode: StorageMode | undefined;
  url: string | undefined;

  constructor(private readonly options: DashboardOptions) {
    this.pool = createPool(
      options.config.database,
      options.databasePassword,
      options.log.child({ component: 'db' }),
    );
    this.events = new EventStore(this.pool);
    this.quarantine = new QuarantineStore(this.pool);
    for (const gateway of options.config.gateways)
      this.trustGateway(gateway.site, gateway.id, gateway.publicKey);
  }

  /** Registers a gateway's public key; its events are accepted from now on. */
  trustGateway(site: string, gateway: string, publicKey: string): void {
    this.trusted.set(`${site}/${gateway}`, importPublicKey(publicKey));
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
    const today = new Date();
    const tomorrow = new Date(today.getTime() + 86_400_000);
    await this.events.ensurePartitions([
      today.toISOString().slice(0, 10),
      tomorrow.toISOString().slice(0, 10),
    ]);

    this.app = await buildApp({
      events: this.events,
      hub: this.hub,
      log: log.child({ component: 'http' }),
      ping: async () => {
        await this.pool.query('SELECT 1');
      },
    });
    const { host, port } = config.http;
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
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

    this.ingestor = new EventIngest({
      url: config.mqtt.url,
      clientId: config.mqtt.clientId ?? 'identgate-dashboard',
      username: config.mqtt.username,
      password: this.options.mqttPassword,
      sites: config.ingest.sites,
      keyFor: (site, gateway) => this.trusted.get(`${site}/${gateway}`),
      events: this.events,
      quarantine: this.quarantine,
      hub: this.hub,
      log: log.child({ component: 'ingest' }),
    });
    await this.ingestor.start();
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

  async stop(): Promise<void> {
    this.hub.closeAll('shutting down');
    await this.ingestor?.stop();
    this.ingestor = undefined;
    await this.app?.close();
    this.app = undefined;
    if (!this.pool.ended) await this.pool.end();
  }

  get ingest(): EventIngest {
    if (!this.ingestor) throw new Error('dashboard not started');
    return this.ingestor;
  }

  /** For tests: the Fastify instance, for `inject()`. */
  get http(): FastifyInstance {
    if (!this.app) throw new Error('dashboard not started');
    return this.app;
  }
}
