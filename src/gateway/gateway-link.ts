import type { KeyObject } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../lib/logger.js';
import { redactUrl } from '../lib/redact-url.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';
import { batchPayload, type Envelope, MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from '../protocol/envelope.js';
import { topics } from '../protocol/topics.js';
import type { JournalRecord, OutboxJournal } from './outbox/outbox-journal.js';

/** A message from the central side: `retained` as the broker flags it, `redelivered` its dup flag. */
type MessageHandler = (payload: Buffer, retained: boolean, redelivered: boolean) => void;

export interface GatewayLinkOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** For mqtts://: the TLS profile, trust anchors and client certificate (see mqttTlsOptions). */
  tls?: TlsClientOptions;
  site: string;
  gateway: string;
  journal: OutboxJournal;
  log: Logger;
  /** At most this many messages are published and not yet acknowledged at once. */
  window?: number;
  /**
   * The gateway's signing key. With it, events that wait while the window is full (a backlog
   * after an outage, a burst) go out as signed batches of up to `maxBatch` events per message.
   */
  signingKey?: KeyObject;
  /** At most this many events in one batch (default 100, at most MAX_BATCH_EVENTS). */
  maxBatch?: number;
  connectTimeoutMs?: number;
  /** How long stop() waits for a broker that does not answer, twice (default 5 s). */
  stopGraceMs?: number;
}

/** Messages of a resend published and not yet acknowledged at once (live events have their own window). */
const RESEND_WINDOW = 16;

export type LinkState = 'connecting' | 'online' | 'offline' | 'stopped';

/**
 * The gateway's MQTT connection: a fixed client id and a persistent session, events at QoS 1 in
 * journal order, a retained `online` status with a retained `offline` Last Will. An event leaves
 * the journal only when the broker has acknowledged it.
 */
export class GatewayLink {
  private client: MqttClient | undefined;
  private readonly waiting: JournalRecord[] = [];
  private readonly queued = new Set<number>();
  private inFlight = 0;
  private pumpScheduled = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  state: LinkState = 'offline';
  // Field initialisers run in order: beginStop must exist before the promise replaces it.
  private beginStop: () => void = () => undefined;
  /** Resolves when stop() begins: a resend waiting for acknowledgements gives up then. */
  private readonly stopping = new Promise<void>((resolve) => {
    this.beginStop = resolve;
  });
  onAcked: ((seq: number) => void) | undefined;
  /**
   * Connected again after a connection was lost; `sessionPresent` when the broker kept the
   * session. A kept session is resumed without subscribing again, so retained messages are not
   * sent: what the session queued meanwhile may lack the newest credential set (a broker's queue
   * bound drops the newest messages first).
   */
  onReconnected: ((sessionPresent: boolean) => void) | undefined;
  private connectedBefore = false;
  private readonly handlers = new Map<string, MessageHandler>();

  constructor(private readonly options: GatewayLinkOptions) {}

  start(): void {
    const { url, clientId, username, password, tls, site, gateway, log } = this.options;
    const statusTopic = topics.status(site, gateway);
    const clientOptions: IClientOptions = {
      ...tls,
      clientId,
      clean: false,
      // MQTT 3.1.1: persistent sessions and QoS 1 everywhere, including the embedded aedes broker.
      protocolVersion: 4,
      reconnectPeriod: 1000,
      // The broker publishes the Last Will (offline) one and a half keep-alives after the gateway
      // went silent: 45 s, against 90 s with MQTT.js's default. Shorter would make a gateway whose
      // event loop stalls for a few seconds (a slow SD card) reconnect, each time raising a warning.
      keepalive: 30,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      resubscribe: true,
      will: { topic: statusTopic, payload: Buffer.from(statusPayload('offline')), qos: 1, retain: true },
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    };
    this.state = 'connecting';
    const client = connect(url, clientOptions);
    this.client = client;
    client.on('connect', (connack) => {
      this.state = 'online';
      log.info({ url: redactUrl(url) }, 'connected to broker');
      client.publish(statusTopic, statusPayload('online'), { qos: 1, retain: true });
      if (!connack.sessionPresent) this.subscribeAll();
      this.pump();
      if (this.connectedBefore) {
        try {
          this.onReconnected?.(connack.sessionPresent);
        } catch (error) {
          log.error({ err: error }, 'handling a reconnect failed');
        }
      }
      this.connectedBefore = true;
    });
    client.on('message', (topic, payload, packet) => {
      const handler = this.handlers.get(topic);
      if (!handler) return;
      try {
        handler(payload, packet.retain === true, packet.dup === true);
      } catch (error) {
        log.error({ err: error, topic }, 'handling a message from the central side failed');
      }
    });
    client.on('offline', () => {
      if (this.state !== 'stopped') this.state = 'offline';
    });
    client.on('error', (error) => log.warn({ err: error }, 'broker connection error'));
    client.on('close', () => {
      if (this.state === 'online') log.warn('broker connection lost; events wait in the outbox');
      if (this.state !== 'stopped') this.state = 'offline';
    });
    this.checkpointTimer = setInterval(() => this.checkpoint(), 250);
    this.checkpointTimer.unref();
    for (const record of this.options.journal.pending()) this.enqueue(record);
  }

  /**
   * Hands a durable journal record to the link; it is published in sequence order. Publishing
   * waits for the rest of this turn of the event loop, so that the records the journal made
   * durable together (a burst) go out together, as one batch.
   */
  enqueue(record: JournalRecord): void {
    if (this.queued.has(record.seq)) return;
    this.queued.add(record.seq);
    this.waiting.push(record);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Receives messages on `topic` (QoS 1) for as long as the link runs. */
  subscribe(topic: string, handler: MessageHandler): void {
    this.handlers.set(topic, handler);
    if (this.client?.connected) this.client.subscribe(topic, { qos: 1 });
  }

  /** Subscribes again, which makes the broker deliver the retained message on the topic anew. */
  resubscribe(topic: string): void {
    const client = this.client;
    if (!client?.connected) return;
    client.unsubscribe(topic, () => client.subscribe(topic, { qos: 1 }));
  }

  /**
   * Publishes journal records again (a resend the central side asked for), a few messages in
   * flight at a time and giving way to the event loop after each: signing 100,000 events in
   * batches takes about a second here, which must not stall the doors or the live events.
   * Resolves with how many were sent once the broker has acknowledged them all; rejects when
   * the connection fails meanwhile (the central side asks again).
   */
  async republish(chunks: AsyncIterable<JournalRecord[]>): Promise<number> {
    const topic = topics.events(this.options.site, this.options.gateway);
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    let sent = 0;
    const stopped = this.stopping.then(() => {
      failure ??= new Error('the gateway is stopping');
    });
    for await (const records of chunks) {
      if (failure) break;
      for (let start = 0; start < records.length && !failure; ) {
        const client = this.client;
        if (!client?.connected) throw new Error('not connected to the broker');
        const message = this.nextMessage(records, start);
        start += message.records.length;
        sent += message.records.length;
        const published: Promise<void> = client
          .publishAsync(topic, message.payload, { qos: 1 })
          .then(
            () => undefined,
            (error: Error) => {
              failure ??= error;
            },
          )
          .finally(() => inFlight.delete(published));
        inFlight.add(published);
        if (inFlight.size >= RESEND_WINDOW) await Promise.race([...inFlight, stopped]);
        // Also after an acknowledgement: several can settle in one read from the socket.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    // A forced close can leave acknowledgements unsettled for good: stopping ends the wait.
    await Promise.race([Promise.all(inFlight), stopped]);
    if (failure) throw failure;
    return sent;
  }

  /**
   * The next message from `start` on: the record as it was journaled when it goes alone, or as
   * many records as fit as one batch signed with the gateway's key. A record that is not JSON
   * (the journal's checksum makes that unlikely) is never put in a batch: it goes alone, as it is,
   * and the central side quarantines it.
   */
  private nextMessage(
    records: readonly JournalRecord[],
    start: number,
  ): { records: JournalRecord[]; payload: Buffer } {
    const first = records[start] as JournalRecord;
    const key = this.options.signingKey;
    const alone = { records: [first], payload: first.payload };
    if (!key) return alone;
    const most = Math.min(this.options.maxBatch ?? 100, MAX_BATCH_EVENTS);
    const group: JournalRecord[] = [];
    const events: Envelope[] = [];
    let bytes = 0;
    for (let i = start; i < records.length && group.length < most; i++) {
      const record = records[i] as JournalRecord;
      // Half the batch limit leaves room for the batch's own fields and any difference between
      // the journal's bytes and their canonical form.
      if (group.length > 0 && bytes + record.payload.length > MAX_BATCH_BYTES / 2) break;
      const event = parseRecord(record);
      if (!event) break;
      group.push(record);
      events.push(event);
      bytes += record.payload.length;
    }
    if (group.length <= 1) return alone;
    return { records: group, payload: batchPayload(this.options.site, this.options.gateway, events, key) };
  }

  private subscribeAll(): void {
    for (const topic of this.handlers.keys()) this.client?.subscribe(topic, { qos: 1 });
  }

  /** Publishes one message (QoS 1), resolving on the broker's acknowledgement (footage answers). */
  async publish(topic: string, payload: Buffer): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new Error('not connected to the broker');
    await client.publishAsync(topic, payload, { qos: 1 });
  }

  publishRetained(topic: string, payload: string): void {
    this.client?.publish(topic, payload, { qos: 1, retain: true });
  }

  async stop(): Promise<void> {
    this.beginStop();
    const client = this.client;
    if (!client) return;
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    const { site, gateway } = this.options;
    // A broker that stops answering must not hold the shutdown forever: what is not acknowledged
    // stays in the journal and goes out after the next start, and a forced close leaves the
    // retained "offline" to the broker's Last Will.
    if (client.connected) {
      await within(
        client
          .publishAsync(topics.status(site, gateway), statusPayload('offline'), { qos: 1, retain: true })
          .catch(() => {}),
        this.options.stopGraceMs ?? STOP_GRACE_MS,
      );
    }
    this.state = 'stopped';
    const ended = await within(
      client.endAsync().then(() => true),
      this.options.stopGraceMs ?? STOP_GRACE_MS,
    );
    if (!ended) await client.endAsync(true);
    this.checkpoint();
    this.client = undefined;
  }

  /** Never throws: from a timer, an exception would end the gateway and the events in memory. */
  private checkpoint(): void {
    try {
      this.options.journal.checkpoint();
    } catch (error) {
      this.options.log.error({ err: error }, 'outbox checkpoint failed');
    }
  }

  private pump(): void {
    const client = this.client;
    if (!client || this.state !== 'online') return;
    const limit = this.options.window ?? 256;
    const topic = topics.events(this.options.site, this.options.gateway);
    while (this.inFlight < limit && this.waiting.length > 0) {
      const { records: group, payload } = this.nextMessage(this.waiting, 0);
      this.waiting.splice(0, group.length);
      this.inFlight += 1;
      // MQTT.js keeps unacknowledged QoS 1 packets and resends them after a reconnect; across
      // a restart of the gateway the journal resends them instead.
      client.publish(topic, payload, { qos: 1 }, (error) => {
        this.inFlight -= 1;
        if (error) {
          // Retried after the next successful connect; they stay in the journal meanwhile.
          this.options.log.warn(
            { err: error, seq: group[0]?.seq, events: group.length },
            'publish failed; kept in the outbox',
          );
          this.waiting.unshift(...group);
          this.waiting.sort((a, b) => a.seq - b.seq);
          return;
        }
        for (const record of group) {
          this.options.journal.ack(record.seq);
          this.queued.delete(record.seq);
          this.onAcked?.(record.seq);
        }
        this.pump();
      });
    }
  }
}

function parseRecord(record: JournalRecord): Envelope | undefined {
  try {
    const value: unknown = JSON.parse(record.payload.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Envelope)
      : undefined;
  } catch {
    return undefined;
  }
}

function statusPayload(state: 'online' | 'offline'): string {
  return JSON.stringify({ state, time: new Date().toISOString() });
}

/** How long a stop waits for the broker before closing the connection regardless. */
const STOP_GRACE_MS = 5_000;

/** `promise`'s value, or undefined once `ms` passed without it. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
