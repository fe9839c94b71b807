import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import {
  decodeEnvelope,
  type Envelope,
  type Rejection,
  signatureInput,
  signatureVerdict,
  verifySignature,
} from '../../protocol/envelope.js';
import { parseTopic } from '../../protocol/topics.js';
import type { LiveHub } from '../live-hub.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { inTransaction } from '../storage/database.js';
import type { EventStore, StoredEvent } from '../storage/event-store.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import type { LatestFactsStore } from '../storage/latest-facts.js';
import type { QuarantineStore } from '../storage/quarantine-store.js';
import type { SequenceStore } from '../storage/sequence-store.js';
import type { SignatureThreads } from './signature-threads.js';

/**
 * What happens to a batch of payloads from the broker, in one transaction: each is decoded,
 * checked against its kind's schema, verified against its gateway's key and its sequence number
 * claimed; new events are stored, gateway alarms applied, and everything that failed a check is
 * quarantined with its reason and raises a security alarm. Only after the commit may the caller
 * acknowledge the batch to the broker, and are the new events and alarm changes pushed live.
 */
export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /**
   * The result of `check()` when it was done already, as the message arrived: verifying a
   * signature is the ingest's main CPU cost, and done on arrival it overlaps with the previous
   * batch's wait for its commit instead of following it.
   */
  checked?: Checked;
}

export type Checked = { ok: true; value: Envelope } | Rejection;

export type IngestOutcome =
  | { status: 'stored'; event: StoredEvent }
  | { status: 'duplicate' }
  | { status: 'quarantined'; rejection: Rejection };

export interface IngestPipelineOptions {
  pool: Pool;
  events: EventStore;
  sequences: SequenceStore;
  alarms: AlarmStore;
  quarantine: QuarantineStore;
  registry: GatewayRegistry;
  /** The overview's newest fact per door, room, gateway and camera, kept in the same transaction. */
  facts: LatestFactsStore;
  hub: LiveHub;
  log: Logger;
  /** Called after the commit with the events that were new (command results, credential requests). */
  afterCommit?: (stored: Envelope[]) => void;
}

export class IngestPipeline {
  constructor(private readonly options: IngestPipelineOptions) {}

  async process(messages: readonly IncomingMessage[]): Promise<IngestOutcome[]> {
    const outcomes: IngestOutcome[] = new Array(messages.length);
    const accepted: Array<{ index: number; envelope: Envelope }> = [];
    const rejected: Array<{ index: number; rejection: Rejection }> = [];
    messages.forEach((message, index) => {
      const checked = message.checked ?? this.check(message);
      if (checked.ok) accepted.push({ index, envelope: checked.value });
      else rejected.push({ index, rejection: checked });
    });
    const { pool, events, sequences, alarms, quarantine, log } = this.options;
    await events.ensurePartitions(accepted.map(({ envelope }) => envelope.time.slice(0, 10)));
    let stored: StoredEvent[] = [];
    let freshEnvelopes: Envelope[] = [];
    let alarmChanges: AlarmView[] = [];
    await inTransaction(pool, log, async (client) => {
      const claims = await sequences.claim(
        accepted.map((a) => a.envelope),
        client,
      );
      for (const { envelope, knownId } of claims.replays) {
        const index = accepted.find((a) => a.envelope === envelope)?.index as number;
        rejected.push({
          index,
          rejection: {
            ok: false,
            reason: 'replayed-sequence',
            detail: `sequence ${envelope.seq} of ${envelope.site}/${envelope.gateway} already belongs to event ${knownId}`,
          },
        });
      }
      stored = await events.insert(claims.fresh, client);
      await this.options.facts.apply(stored, client);
      const storedIds = new Set(stored.map((e) => e.id));
      freshEnvelopes = claims.fresh.filter((e) => storedIds.has(e.id));
      alarmChanges = await alarms.applyGatewayEvents(freshEnvelopes, client);
      for (const { index, rejection } of rejected) {
        const message = messages[index] as IncomingMessage;
        await quarantine.add(message.topic, rejection.reason, rejection.detail, message.payload, client);
        const address = parseTopic(message.topic);
        const site = address.ok ? address.address.site : undefined;
        const gateway = address.ok ? address.address.gateway : undefined;
        const raised = await alarms.raiseCentral(
          {
            alarm: 'event-quarantined',
            key: `event-quarantined:${rejection.reason}`,
            severity: 'critical',
            ...(site ? { site } : {}),
            ...(gateway ? { gateway } : {}),
            detail: `${rejection.reason}: ${rejection.detail}`.slice(0, 500),
          },
          client,
        );
        alarmChanges.push(...raised);
      }
    });
    const byId = new Map(stored.map((e) => [e.id, e]));
    for (const { index, envelope } of accepted) {
      const event = byId.get(envelope.id);
      outcomes[index] = event ? { status: 'stored', event } : { status: 'duplicate' };
    }
    for (const { index, rejection } of rejected) {
      outcomes[index] = { status: 'quarantined', rejection };
      log.warn(
        { topic: messages[index]?.topic, reason: rejection.reason, detail: rejection.detail },
        'security: event quarantined',
      );
    }
    this.options.hub.publish(stored);
    this.options.hub.publishAlarms(alarmChanges);
    if (freshEnvelopes.length > 0) this.options.afterCommit?.(freshEnvelopes);
    return outcomes;
  }

  /** Topic, schema and signature: everything about a payload that needs no database. */
  check(message: IncomingMessage): Checked {
    const shaped = this.shape(message);
    if (!shaped.ok) return shaped;
    return verifySignature(shaped.value, this.options.registry.keyFor);
  }

  /** The same as {@link check}, with the signature verified on the given threads. */
  async checkOn(threads: SignatureThreads, message: IncomingMessage): Promise<Checked> {
    try {
      const shaped = this.shape(message);
      if (!shaped.ok) return shaped;
      const input = signatureInput(shaped.value, this.options.registry.keyFor);
      if (!input.ok) return input;
      return signatureVerdict(shaped.value, await threads.verify(input.key, input.bytes, input.signature));
    } catch (error) {
      // Nothing a payload holds may stop the ingest: whatever could not be checked is refused.
      return {
        ok: false,
        reason: 'bad-envelope',
        detail: `could not be checked: ${(error as Error).message}`,
      };
    }
  }

  /** Topic and schema: whether the payload is an event of the gateway whose topic it came on. */
  private shape(message: IncomingMessage): Checked {
    const address = parseTopic(message.topic);
    if (!address.ok || address.address.channel !== 'events') {
      return {
        ok: false,
        reason: 'topic-mismatch',
        detail: address.ok ? `not an events topic: ${message.topic}` : address.reason,
      };
    }
    const decoded = decodeEnvelope(message.payload);
    if (!decoded.ok) return decoded;
    const envelope = decoded.value;
    if (envelope.site !== address.address.site || envelope.gateway !== address.address.gateway) {
      return {
        ok: false,
        reason: 'topic-mismatch',
        detail: `event of ${envelope.site}/${envelope.gateway} published on ${address.address.site}/${address.address.gateway}`,
      };
    }
    return decoded;
  }
}
