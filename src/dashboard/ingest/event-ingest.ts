import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import type { TlsClientOptions } from '../../lib/tls-profile.js';
import { subscriptions } from '../../protocol/topics.js';
import type { IngestOutcome, IngestPipeline } from './ingest-pipeline.js';

export interface IngestOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** For mqtts://: the TLS profile, trust anchors and client certificate (see mqttTlsOptions). */
  tls?: TlsClientOptions;
  /** Sites to subscribe to; empty means all. */
  sites: readonly string[];
  pipeline: IngestPipeline;
  log: Logger;
}

export type { IngestOutcome };

const RETRY_MAX_MS = 10_000;

/**
 * The broker side of the central ingest: a persistent session subscribed to the events topics.
 * Each payload goes through the ingest pipeline, and the broker gets its PUBACK only after the
 * pipeline's transaction committed, so a crash here loses nothing: the broker redelivers.
 * Storage errors are retried (the stream waits) rather than acknowledged.
 */
export class EventIngest {
  private client: MqttClient | undefined;
  private stopping = false;
  /** Every payload's fate, for observers (metrics, tests). */
  readonly outcomes: Signal<IngestOutcome & { topic: string }>;

  constructor(private readonly options: IngestOptions) {
    this.outcomes = new Signal('ingest.outcomes', options.log);
  }

  async start(): Promise<void> {
    const { url, clientId, username, password, tls, sites, log } = this.options;
    const clientOptions: IClientOptions = {
      ...tls,
      clientId,
      clean: false,
      // MQTT 3.1.1: persistent sessions and QoS 1 everywhere, including the embedded aedes broker.
      protocolVersion: 4,
      reconnectPeriod: 1000,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    };
    const client = connect(url, clientOptions);
    this.client = client;
    client.handleMessage = (packet, done) => {
      this.handle(packet).then(
        () => done(),
        (error: Error) => done(error),
      );
    };
    client.on('error', (error) => log.warn({ err: error }, 'ingest broker connection error'));
    const filters =
      sites.length > 0 ? sites.map((site) => subscriptions.events(site)) : [subscriptions.events()];
    await new Promise<void>((resolve, reject) => {
      client.once('connect', (connack) => {
        if (connack.sessionPresent) {
          resolve();
          return;
        }
        client.subscribe(filters, { qos: 1 }, (error) => (error ? reject(error) : resolve()));
      });
    });
    log.info({ filters }, 'ingest subscribed');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.client?.endAsync();
    this.client = undefined;
  }

  /** Processes one payload completely; resolves only once it is stored or quarantined. */
  async process(topic: string, payload: Buffer): Promise<IngestOutcome> {
    const [outcome] = await this.options.pipeline.process([{ topic, payload }]);
    const result = outcome as IngestOutcome;
    this.outcomes.emit({ ...result, topic });
    return result;
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let delay = 100;
    for (;;) {
      try {
        await this.process(packet.topic, payload);
        return;
      } catch (error) {
        if (this.stopping) throw error;
        this.options.log.error({ err: error, retryInMs: delay }, 'ingest: storing failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }
}
