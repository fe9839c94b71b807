import { type DashboardConfig, ingestProtocol, retentionSettings } from '../../config/dashboard-config.js';
import type { Logger } from '../../lib/logger.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { CentralMqttOptions } from '../central-mqtt.js';
import { EventAgeLimit } from '../retention/event-age-limit.js';
import { EventIngest } from './event-ingest.js';
import { IngestPipeline, type IngestPipelineOptions } from './ingest-pipeline.js';

export type DashboardIngestOptions = Pick<
  IngestPipelineOptions,
  | 'pool'
  | 'events'
  | 'sequences'
  | 'alarms'
  | 'quarantine'
  | 'registry'
  | 'facts'
  | 'hub'
  | 'instance'
  | 'cluster'
  | 'masterKeys'
> & {
  config: DashboardConfig;
  /** The dashboard's broker connection, its client id as it is. */
  mqtt: CentralMqttOptions;
  /** Told of every event this instance stores: command results, credential requests. */
  messenger: CentralMessenger;
  log: Logger;
};

/**
 * The dashboard's ingest, put together and started in this order: the retention age limit it
 * refuses too old events by, the pipeline that stores payloads, and the broker subscription
 * that feeds the pipeline.
 */
export class DashboardIngest {
  private ageLimit: EventAgeLimit | undefined;
  private ingestor: EventIngest | undefined;
  private pipelineInstance: IngestPipeline | undefined;

  constructor(private readonly options: DashboardIngestOptions) {}

  async start(): Promise<void> {
    const { config, mqtt, messenger, log } = this.options;
    const ageLimit = new EventAgeLimit(
      this.options.pool,
      retentionSettings(config).defaultDays,
      log.child({ component: 'ingest' }),
    );
    await ageLimit.start();
    this.ageLimit = ageLimit;
    const pipeline = new IngestPipeline({
      pool: this.options.pool,
      events: this.options.events,
      sequences: this.options.sequences,
      alarms: this.options.alarms,
      quarantine: this.options.quarantine,
      registry: this.options.registry,
      facts: this.options.facts,
      hub: this.options.hub,
      instance: this.options.instance,
      cluster: this.options.cluster,
      masterKeys: this.options.masterKeys,
      log: log.child({ component: 'ingest' }),
      tooOld: (site, kind, at, now) => ageLimit.tooOld(site, kind, at, now),
      afterCommit: (stored) => {
        messenger.onEvents(stored);
        // Also at once: while this instance does not hear the others, its hub gets nothing.
        messenger.onStored(stored);
      },
    });
    this.pipelineInstance = pipeline;
    this.ingestor = new EventIngest({
      url: mqtt.url,
      clientId: mqtt.clientId,
      username: mqtt.username,
      password: mqtt.password,
      tls: mqtt.tls,
      sites: config.ingest.sites,
      knownSites: [...new Set(config.gateways.map((g) => g.site))],
      protocol: ingestProtocol(config.ingest.mqttProtocol),
      verifyThreads: config.ingest.verifyThreads ?? 1,
      pipeline,
      log: log.child({ component: 'ingest' }),
    });
    await this.ingestor.start();
  }

  /**
   * Stops the subscription, then the age limit's refreshes; also after a start that failed
   * part-way. The pipeline stays, for driving it without a broker.
   */
  async stop(): Promise<void> {
    await this.ingestor?.stop();
    this.ingestor = undefined;
    this.ageLimit?.stop();
    this.ageLimit = undefined;
  }

  /** The broker subscription; undefined before start() and after stop(). */
  get ingest(): EventIngest | undefined {
    return this.ingestor;
  }

  /** Undefined until start() built it. */
  get pipeline(): IngestPipeline | undefined {
    return this.pipelineInstance;
  }
}
