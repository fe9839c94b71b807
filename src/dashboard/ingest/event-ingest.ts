import type { ConnectionOptions } from 'node:tls';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { subscriptions } from '../../protocol/topics.js';
import { isTransientError } from '../storage/database.js';
import { numberUseOf } from '../storage/sequence-store.js';
import type { IncomingMessage, IngestOutcome, IngestPipeline } from './ingest-pipeline.js';
import { type HeldMessage, Redeliveries } from './mqtt-redeliveries.js';
import { MqttSubscriber } from './mqtt-subscriber.js';
import { type Checked, eventBytes } from './payload-checks.js';
import { SignatureThreads } from './signature-threads.js';

export interface IngestOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
  /** Sites to subscribe to; empty means all. */
  sites: readonly string[];
  /** Every site the configuration names: subscriptions of an earlier run to others are dropped. */
  knownSites?: readonly string[];
  /** MQTT version: 'auto' (default) tries 5 and falls back to 3.1.1. */
  protocol?: 'auto' | 5 | 4;
  /** Also keeps what cannot be stored at all (IngestPipeline.quarantineUnstorable). */
  pipeline: Pick<IngestPipeline, 'check' | 'process' | 'quarantineUnstorable'>;
  log: Logger;
  /** MQTT 5 shared-subscription group, so that several dashboards split the ingest. */
  sharedGroup?: string;
  /** At most this many messages go into one transaction… */
  maxBatch?: number;
  /**
   * …and no more payload than this (default 256 KiB, about 700 events), however many messages
   * that is; one message is always taken. Gateways' batches hold up to 100 events each, so the
   * message count alone would let one transaction grow to tens of thousands of events.
   */
  maxBatchBytes?: number;
  /**
   * How many batches may be under way at the same time (default 2): the next claims and writes
   * its events while one commits. The pipeline keeps their transactions in order (see
   * IngestPipeline.process), so ingest numbers still become visible in order.
   */
  concurrency?: number;
  /**
   * Worker threads that verify signatures (default 1); 0 verifies on the ingest's own thread.
   * See signature-threads.ts.
   */
  verifyThreads?: number;
}

export type { IngestOutcome };

/** A message from its arrival to its commit, with its topic, schema and signature check under way. */
interface Held extends HeldMessage {
  readonly checking: Promise<Checked[]>;
}

/** A message as it goes into the pipeline, checked. */
type CheckedMessage = Required<IncomingMessage>;

const RETRY_MAX_MS = 10_000;
/** Transient failures of a batch of several events before its events are tried one by one. */
const TRANSIENT_BEFORE_SPLIT = 5;

function eventsIn(batch: ReadonlyArray<{ checked: Checked[] }>): number {
  return batch.reduce((n, message) => n + message.checked.length, 0);
}

/**
 * The broker side of the central ingest: a persistent session subscribed to the events topics.
 * Messages are collected while the previous batch commits and go through the ingest pipeline
 * together, in one transaction; only after the commit are they acknowledged to the broker, so a
 * crash here loses nothing (the broker redelivers). Storage errors are retried with backoff while
 * the broker holds the rest; every message is acknowledged once decided, quarantined ones too.
 */
export class EventIngest {
  private subscriber: MqttSubscriber | undefined;
  private readonly queue: Held[] = [];
  private threads: SignatureThreads | undefined;
  /** Batches being committed right now; several overlap so one commit's wait is not idle time. */
  private readonly inFlight = new Set<Promise<void>>();
  /** The messages of those batches until their commit has acknowledged them. */
  private readonly committing = new Set<Held[]>();
  private readonly redeliveries = new Redeliveries<Held>();
  private stopping = false;
  /** Aborted by stop: a start still waiting for the broker ends. */
  private readonly starting = new AbortController();
  /** Every payload's fate, for observers (metrics, tests). */
  readonly outcomes: Signal<IngestOutcome & { topic: string }>;

  constructor(private readonly options: IngestOptions) {
    this.outcomes = new Signal('ingest.outcomes', options.log);
  }

  async start(): Promise<void> {
    const { url, clientId, username, password, tls, sites, log } = this.options;
    const filters =
      sites.length > 0 ? sites.map((site) => subscriptions.events(site)) : [subscriptions.events()];
    // What an earlier run with other sites may have left in the persistent session.
    const retiredTopics = [
      subscriptions.events(),
      ...(this.options.knownSites ?? []).map((site) => subscriptions.events(site)),
    ].filter((topic) => !filters.includes(topic));
    const subscriber = new MqttSubscriber({
      url,
      clientId,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(tls ? { tls } : {}),
      protocol: this.options.protocol ?? 'auto',
      subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })),
      retiredTopics,
      sharedGroup: this.options.sharedGroup ?? 'identgate-ingest',
      log,
    });
    this.subscriber = subscriber;
    const threads = new SignatureThreads(this.options.verifyThreads ?? 1, log);
    this.threads = threads;
    const { pipeline } = this.options;
    const held = () => this.held();
    subscriber.messages.on((message) => {
      // The broker's redelivery of a message held from a connection that has ended: the held
      // copy acknowledges it when committed. Queued as well, it would be committed twice, and
      // while the database is down every reconnect would add a window's worth to the queue.
      if (this.redeliveries.match(message, held)) return;
      // Checked now, on other threads, while an earlier batch may be waiting for its commit.
      this.queue.push({ delivery: message, checking: pipeline.check(message, threads) });
      this.drain();
    });
    subscriber.errors.on((error) => log.warn({ err: error }, 'ingest broker connection error'));
    const connected = new Promise<void>((resolve) => {
      const off = subscriber.connected.on((info) => {
        off();
        log.info(
          { filters: info.filters, protocol: info.protocolVersion, shared: info.shared },
          'ingest subscribed',
        );
        resolve();
      });
    });
    subscriber.start();
    // A stop while the broker has not answered yet ends the start too.
    await Promise.race([
      connected,
      new Promise<never>((_resolve, reject) => {
        this.starting.signal.addEventListener('abort', () =>
          reject(new CodedError('IDG_MQTT_STOPPED', 'ingest: stopped before the broker answered')),
        );
      }),
    ]);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.starting.abort();
    await Promise.all(this.inFlight);
    await this.subscriber?.stop();
    this.subscriber = undefined;
    await this.threads?.close();
    this.threads = undefined;
  }

  /**
   * Processes a payload outside the broker (tests, tools); resolves once its events are stored or
   * quarantined, with one outcome per event (one for a payload refused whole).
   */
  async process(topic: string, payload: Buffer): Promise<IngestOutcome[]> {
    const [outcomes = []] = await this.options.pipeline.process([{ topic, payload }]);
    for (const outcome of outcomes) this.outcomes.emit({ ...outcome, topic });
    return outcomes;
  }

  /** Messages waiting for a batch (not those being committed). */
  get queued(): number {
    return this.queue.length;
  }

  /** Every message not yet committed: queued, or in a batch being committed. */
  private *held(): Iterable<Held> {
    yield* this.queue;
    for (const batch of this.committing) yield* batch;
  }

  private drain(): void {
    const concurrency = this.options.concurrency ?? 2;
    const maxBatch = this.options.maxBatch ?? 500;
    const maxBytes = this.options.maxBatchBytes ?? 256 * 1024;
    while (!this.stopping && this.queue.length > 0 && this.inFlight.size < concurrency) {
      let take = 0;
      let bytes = 0;
      while (take < this.queue.length && take < maxBatch && (take === 0 || bytes < maxBytes)) {
        bytes += (this.queue[take] as Held).delivery.payload.length;
        take += 1;
      }
      const batch = this.queue.splice(0, take);
      this.committing.add(batch);
      const job: Promise<void> = this.commit(batch).finally(() => {
        this.committing.delete(batch);
        this.inFlight.delete(job);
        this.drain();
      });
      this.inFlight.add(job);
    }
  }

  /** PUBACKs leave in arrival order whichever batch commits first (the subscriber sees to that). */
  private async commit(batch: Held[]): Promise<void> {
    const checks = await Promise.all(batch.map((message) => message.checking));
    const outcomes = await this.processWithRetry(
      batch.map(({ delivery: { topic, payload } }, index) => ({
        topic,
        payload,
        checked: checks[index] as Checked[],
      })),
    );
    if (!outcomes) return;
    // Committed: a redelivery arriving from now on is a message of its own again.
    this.committing.delete(batch);
    for (const message of batch) {
      this.redeliveries.committed(message);
      message.delivery.ack();
    }
    batch.forEach(({ delivery: { topic } }, index) => {
      for (const outcome of outcomes[index] ?? []) this.outcomes.emit({ ...outcome, topic });
    });
  }

  /**
   * Commits a batch, retrying while the database cannot store anything (isTransientError). A
   * batch that fails for another reason twice holds something that cannot be stored: its messages
   * are then decided one by one, and one that still fails is quarantined as unstorable — a poison
   * message never stalls the ingest. A batch whose transient failures go on (some, such as running
   * out of memory, may depend on its size) is also taken apart, still without judging anything
   * by its content.
   */
  private async processWithRetry(batch: CheckedMessage[]): Promise<IngestOutcome[][] | undefined> {
    let delay = 100;
    let dataFailures = 0;
    let transientFailures = 0;
    for (;;) {
      try {
        return await this.options.pipeline.process(batch);
      } catch (error) {
        // Not acknowledged: the broker keeps these messages (and redelivers them after a restart).
        // A transient error (see isTransientError: a lost connection, a full disk …) is retried
        // for as long as it lasts; another one twice means something in the batch cannot be stored.
        if (this.stopping) return undefined;
        if (!isTransientError(error) && ++dataFailures >= 2) return this.processOneByOne(batch);
        if (isTransientError(error) && ++transientFailures >= TRANSIENT_BEFORE_SPLIT && eventsIn(batch) > 1)
          return this.processOneByOne(batch);
        this.options.log.error(
          { err: error, batch: batch.length, retryInMs: delay },
          'ingest: storing failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Every event of every message on its own, so that one that cannot be stored holds up no other. */
  private async processOneByOne(batch: CheckedMessage[]): Promise<IngestOutcome[][] | undefined> {
    const outcomes: IngestOutcome[][] = [];
    for (const message of batch) {
      const own: IngestOutcome[] = [];
      for (const checked of message.checked) {
        const outcome = await this.processAlone(message, checked);
        if (!outcome) return undefined;
        own.push(outcome);
      }
      outcomes.push(own);
    }
    return outcomes;
  }

  private async processAlone(message: CheckedMessage, checked: Checked): Promise<IngestOutcome | undefined> {
    let delay = 100;
    let dataFailures = 0;
    // Alone, an event of a batch is its own payload: what quarantine keeps of it, whatever for.
    const payload = checked.ok
      ? eventBytes(message, message.checked.length, checked.value)
      : (checked.payload ?? message.payload);
    for (;;) {
      try {
        const [[outcome] = []] = await this.options.pipeline.process([
          { topic: message.topic, payload, checked: [checked] },
        ]);
        return outcome;
      } catch (error) {
        if (this.stopping) return undefined;
        if (!isTransientError(error) && ++dataFailures >= 2) {
          const detail = `could not be stored: ${(error as Error).message}`.slice(0, 500);
          this.options.log.error(
            { err: error, topic: message.topic },
            'ingest: message cannot be stored; quarantined',
          );
          const uses = checked.ok ? numberUseOf(checked.value) : checked.uses;
          try {
            return await this.options.pipeline.quarantineUnstorable(message.topic, detail, payload, uses);
          } catch (quarantineError) {
            // Not even the quarantine takes it: the database is unwell. Tried again below; the
            // message stays unacknowledged with the broker meanwhile.
            this.options.log.error(
              { err: quarantineError, topic: message.topic, retryInMs: delay },
              'ingest: could not quarantine a message that cannot be stored; retrying',
            );
          }
        }
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }
}
