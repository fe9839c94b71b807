import type { KeyObject } from 'node:crypto';
import { connect, type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { decodeEnvelope, type Envelope, type Rejection, verifySignature } from '../../protocol/envelope.js';
import { SequenceTracker } from '../../protocol/sequence-tracker.js';
import { parseTopic, subscriptions } from '../../protocol/topics.js';
import type { LiveHub } from '../live-hub.js';
import type { EventStore, StoredEvent } from '../storage/event-store.js';
import type { QuarantineStore } from '../storage/quarantine-store.js';

export interface IngestOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** Sites to subscribe to; empty means all. */
  sites: readonly string[];
  keyFor: (site: string, gateway: string) => KeyObject | undefined;
  events: EventStore;
  quarantine: QuarantineStore;
  hub: LiveHub;
  log: Logger;
}

export type IngestOutcome =
  | { status: 'stored'; event: StoredEvent }
  | { status: 'duplicate' }
  | { status: 'quarantined'; rejection: Rejection };

const RETRY_MAX_MS = 10_000;

/**
 * The central ingest: every payload on an events topic is decoded, checked against its kind's
 * schema, verified against the sending gateway's key, deduplicated by id and stored. The broker
 * gets its PUBACK only after the row is committed, so a crash here loses nothing: the broker
 * redelivers. What fails a check is quarantined with its reason and never stops the ingest.
 */
export class EventIngest {
  private client: MqttClient | undefined;
  private readonly sequences = new SequenceTracker();
  private stopping = false;
  /** Every payload's fate, for observers (metrics, tests). */
  readonly outcomes: Signal<IngestOutcome & { topic: string }>;
  /** Resolves when the subscription is in place. */
  ready: Promise<void> = Promise.resolve();

  constructor(private readonly options: IngestOptions) {
    this.outcomes = new Signal('ingest.outcomes', options.log);
  }

  async start(): Promise<void> {
    const { url, clientId, username, password, sites, log } = this.options;
    for (const { site, gateway, seq, id } of await this.options.events.latestSequences()) {
      this.sequences.remember(`${site}/${gateway}`, seq, id);
    }
    const clientOptions: IClientOptions = {
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
    this.ready = new Promise<void>((resolve, reject) => {
      client.once('connect', (connack) => {
        if (connack.sessionPresent) {
          resolve();
          return;
        }
        client.subscribe(filters, { qos: 1 }, (error) => (error ? reject(error) : resolve()));
      });
    });
    await this.ready;
    log.info({ filters }, 'ingest subscribed');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.client?.endAsync();
    this.client = undefined;
  }

  /** Processes one payload completely; resolves only once it is stored or quarantined. */
  async process(topic: string, payload: Buffer): Promise<IngestOutcome> {
    const outcome = await this.store(topic, payload);
    this.outcomes.emit({ ...outcome, topic });
    return outcome;
  }

  private async store(topic: string, payload: Buffer): Promise<IngestOutcome> {
    const checked = this.check(topic, payload);
    if (!checked.ok) {
      await this.options.quarantine.add(topic, checked.reason, checked.detail, payload);
      this.options.log.warn(
        { topic, reason: checked.reason, detail: checked.detail },
        'security: event quarantined',
      );
      return { status: 'quarantined', rejection: checked };
    }
    const envelope = checked.value;
    const [stored] = await this.options.events.insert([envelope]);
    if (!stored) return { status: 'duplicate' };
    this.options.hub.publish([stored]);
    return { status: 'stored', event: stored };
  }

  private check(topic: string, payload: Buffer): { ok: true; value: Envelope } | Rejection {
    const address = parseTopic(topic);
    if (!address.ok || address.address.channel !== 'events') {
      return {
        ok: false,
        reason: 'topic-mismatch',
        detail: address.ok ? `not an events topic: ${topic}` : address.reason,
      };
    }
    const decoded = decodeEnvelope(payload);
    if (!decoded.ok) return decoded;
    const envelope = decoded.value;
    if (envelope.site !== address.address.site || envelope.gateway !== address.address.gateway) {
      return {
        ok: false,
        reason: 'topic-mismatch',
        detail: `event of ${envelope.site}/${envelope.gateway} published on ${address.address.site}/${address.address.gateway}`,
      };
    }
    const verified = verifySignature(envelope, this.options.keyFor);
    if (!verified.ok) return verified;
    const verdict = this.sequences.observe(`${envelope.site}/${envelope.gateway}`, envelope.seq, envelope.id);
    if (verdict.status === 'replayed') {
      return {
        ok: false,
        reason: 'replayed-sequence',
        detail: `sequence ${envelope.seq} of ${envelope.site}/${envelope.gateway} already belongs to event ${verdict.knownId}`,
      };
    }
    if (verdict.status === 'new' && verdict.gapFrom !== undefined) {
      this.options.log.warn(
        { gateway: envelope.gateway, from: verdict.gapFrom, to: verdict.gapTo },
        'sequence gap: events missing from this gateway so far',
      );
    }
    return { ok: true, value: envelope };
  }

  private async handle(packet: IPublishPacket): Promise<void> {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    // Storage errors are retried here rather than acknowledged: the stream waits, nothing is lost.
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
