import type { Pool } from 'pg';
import type { KeyRing } from '../../lib/key-ring.js';
import type { Logger } from '../../lib/logger.js';
import type { Envelope, Rejection } from '../../protocol/envelope.js';
import { STORED_CHANNEL, storedNotice } from '../cluster-channels.js';
import type { LiveHub } from '../live-hub.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { inTransaction } from '../storage/database.js';
import type { EventStore, StoredEvent } from '../storage/event-store.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import type { LatestFactsStore } from '../storage/latest-facts.js';
import type { QuarantineStore } from '../storage/quarantine-store.js';
import type { NumberUse, SequenceStore } from '../storage/sequence-store.js';
import { ErasedRefusals } from './erased-refusals.js';
import { idReused, sameEvent } from './id-reuse.js';
import { quarantined, quarantineUnstorable, raisesAlarm } from './ingest-quarantine.js';
import { type Checked, checkPayload, eventBytes, type PayloadCheckOptions } from './payload-checks.js';
import { gatewayOf, RetiredMeanwhile } from './retired-meanwhile.js';
import type { SignatureThreads } from './signature-threads.js';
import { type Stages, TransactionTurns } from './transaction-turns.js';

/**
 * What happens to a batch of payloads from the broker, in one transaction: each is decoded,
 * checked against its kind's schema, verified against its gateway's key and its sequence number
 * claimed; new events are stored, gateway alarms applied, and everything that failed a check is
 * quarantined with its reason and raises a security alarm. Only after the commit may the caller
 * acknowledge the batch to the broker, and are the new events and alarm changes pushed live.
 * A payload is one event or a gateway's signed batch of events (see envelope.ts).
 */
export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /**
   * The result of `check()` when it was done already, as the message arrived: verifying a
   * signature is the ingest's main CPU cost, and done on arrival it overlaps with the previous
   * batch's wait for its commit instead of following it.
   */
  checked?: Checked[];
}

export type IngestOutcome =
  | { status: 'stored'; event: StoredEvent }
  | { status: 'duplicate' }
  | { status: 'quarantined'; rejection: Rejection };

/** What the pipeline stores into, and (PayloadCheckOptions) what checking a payload reads. */
export interface IngestPipelineOptions extends PayloadCheckOptions {
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
  /** Open the erasure tombstones' key, which is sealed under them (tombstone-key.ts). */
  masterKeys?: KeyRing;
  /**
   * This dashboard instance's name: each transaction that stores events announces their ingest
   * numbers under it, so that other instances read them (ClusterEvents). Without it nothing is
   * announced.
   */
  instance?: string;
  /**
   * Publishes the stored events on the live hub in ingest order across instances, when their
   * notice comes back (ClusterEvents). Without it they are published on `hub` after the commit.
   */
  cluster?: { stored(notice: string, events: readonly StoredEvent[]): void; committed(notice: string): void };
  /** Called after the commit with the events that were new (command results, credential requests). */
  afterCommit?: (stored: Envelope[]) => void;
}

export class IngestPipeline {
  private readonly turns = new TransactionTurns();
  private readonly erased: ErasedRefusals;

  constructor(private readonly options: IngestPipelineOptions) {
    this.erased = new ErasedRefusals(options.masterKeys);
  }

  /**
   * Outcomes per message, one for each of its events (one for a payload refused whole).
   *
   * Several calls may run at once (the ingest hands over the next batch while one commits); their
   * transactions keep the order of the calls at three points:
   * - the claim of sequence numbers waits until the one before has claimed;
   * - the rest of the turn (quarantining what was refused, inserting the events) waits until it
   *   has inserted; then the insert (or the quarantine, when there is any) takes the ingest-order
   *   lock (migration 0016), which the one before holds until it commits;
   * - everything after the insert (the overview's facts, alarms raised by gateways, the gateways'
   *   highest numbers with the stored-events notice, the commit) until it has committed.
   * So the next batch claims its sequence numbers, has its events' chain digests computed and
   * builds its insert while the one before inserts, and sends it (PostgreSQL parses it) while the
   * one before commits. Ingest numbers are
   * taken, and become visible, in order, across every dashboard instance: the live streams resume
   * by the highest number they sent. And no
   * transaction waits for a later one: the ingest-order lock comes first, before any chain lock
   * (quarantine alarms, the insert), and after its insert a transaction needs only locks that no
   * later one takes before that point — the gateways' sequence rows, facts, gateway alarms on the
   * chains of its own events' sites, which its insert holds already — so they cannot deadlock. A
   * transaction that fails releases its place.
   */
  async process(messages: readonly IncomingMessage[]): Promise<IngestOutcome[][]> {
    let batch = messages;
    for (let attempt = 1; ; attempt++) {
      const { before, reach } = this.turns.take();
      try {
        return await this.processInTurn(batch, before, reach);
      } catch (error) {
        if (!(error instanceof RetiredMeanwhile) || attempt >= 3) throw error;
        // Checked while this instance trusted the gateway; it is forgotten now (as the retirement's
        // notice would have it), and its messages are checked again: quarantined, as its own.
        error.forgetIn(this.options.registry);
        this.options.log.warn(
          { gateways: error.gateways },
          'gateways retired while their events were being stored: those events are refused',
        );
        const retired = new Set(error.gateways);
        batch = batch.map((message) =>
          message.checked?.some((checked) => retired.has(gatewayOf(checked) ?? ''))
            ? { topic: message.topic, payload: message.payload }
            : message,
        );
      } finally {
        reach.claimed();
        reach.inserted();
        reach.committed();
      }
    }
  }

  private async processInTurn(
    messages: readonly IncomingMessage[],
    before: Stages,
    reach: Record<keyof Stages, () => void>,
  ): Promise<IngestOutcome[][]> {
    const verdicts = await Promise.all(messages.map((message) => message.checked ?? this.check(message)));
    const outcomes: IngestOutcome[][] = verdicts.map((list) => new Array(list.length));
    type At = { message: number; item: number };
    const accepted: Array<At & { envelope: Envelope }> = [];
    const rejected: Array<At & { rejection: Rejection & { payload?: Buffer; uses?: NumberUse } }> = [];
    verdicts.forEach((list, message) => {
      list.forEach((checked, item) => {
        if (checked.ok) accepted.push({ message, item, envelope: checked.value });
        else rejected.push({ message, item, rejection: checked });
      });
    });
    const { pool, events, sequences, alarms, log } = this.options;
    await events.ensurePartitions(accepted.map(({ envelope }) => envelope.time.slice(0, 10)));
    let stored: StoredEvent[] = [];
    let freshEnvelopes: Envelope[] = [];
    let notice: string | undefined;
    const alarmChanges: AlarmView[] = [];
    // The connection is taken once the transaction before has one, so that a small pool cannot
    // leave that one waiting for a connection this one holds.
    await before.claimed;
    await inTransaction(pool, log, async (client) => {
      // A safety net: should two transactions ever wait on each other after all, one gives up
      // (and is retried) instead of both waiting for ever.
      await client.query(`SET LOCAL lock_timeout = '30s'`);
      // Events naming an erased person are refused, their numbers claimed (erased-refusals.ts).
      for (const { message, item, rejection } of await this.erased.take(client, accepted))
        rejected.push({ message, item, rejection });
      // Numbers of refused events that their gateway signed are claimed with the rest, marked as
      // held in quarantine.
      const signedRefusals = new Map<NumberUse, (typeof rejected)[number]>();
      for (const entry of rejected) if (entry.rejection.uses) signedRefusals.set(entry.rejection.uses, entry);
      const refusals = new Set(signedRefusals.keys());
      const claims = await sequences.claim<NumberUse>(
        [...accepted.map((a) => a.envelope), ...refusals],
        client,
        refusals,
      );
      const where = new Map(accepted.map((a) => [a.envelope, a]));
      const refuse = (envelope: Envelope, rejection: Rejection & { payload: Buffer }) =>
        rejected.push({ ...(where.get(envelope) as At), rejection });
      const bytesOf = (envelope: Envelope) => {
        const at = where.get(envelope) as At;
        return eventBytes(
          messages[at.message] as IncomingMessage,
          verdicts[at.message]?.length ?? 1,
          envelope,
        );
      };
      // A refused event whose number its id holds in quarantine already (or that comes twice,
      // refused both times) was quarantined before: not again. (Held by a stored event, it is
      // other content under that event's id.)
      const refusedTwice = (use: NumberUse) => {
        const first = claims.sameBatch.get(use);
        return first !== undefined && signedRefusals.has(first);
      };
      const quarantinedBefore = new Set(
        claims.duplicates
          .filter((use) => signedRefusals.has(use) && (claims.heldInQuarantine.has(use) || refusedTwice(use)))
          .map((use) => signedRefusals.get(use)),
      );
      if (quarantinedBefore.size > 0) {
        for (let i = rejected.length - 1; i >= 0; i--) {
          const entry = rejected[i] as (typeof rejected)[number];
          if (!quarantinedBefore.has(entry)) continue;
          rejected.splice(i, 1);
          (outcomes[entry.message] as IngestOutcome[])[entry.item] = { status: 'duplicate' };
        }
      }
      for (const { envelope: use, knownId } of claims.replays) {
        if (signedRefusals.has(use)) continue; // quarantined for its own reason
        const envelope = use as Envelope;
        refuse(envelope, {
          ok: false,
          reason: 'replayed-sequence',
          detail: `sequence ${envelope.seq} of ${envelope.site}/${envelope.gateway} already belongs to event ${knownId}`,
          payload: bytesOf(envelope),
        });
      }
      // A redelivery (its id holds its number already) must be that event itself. One whose
      // number is held in quarantine (dated too far ahead then, say) is stored now.
      const held: Envelope[] = [];
      const compared: Envelope[] = [];
      for (const use of claims.duplicates) {
        if (signedRefusals.has(use)) continue;
        const envelope = use as Envelope;
        const first = claims.sameBatch.get(use);
        if (first) {
          if (signedRefusals.has(first) || !sameEvent(first as Envelope, envelope))
            refuse(envelope, idReused(envelope, 'comes twice with other content', bytesOf(envelope)));
        } else if (claims.heldInQuarantine.has(use)) held.push(envelope);
        else compared.push(envelope);
      }
      // Still held once locked: another transaction may have stored it meanwhile. (Locked before
      // the next transaction may claim, as the claims themselves are: it waits on this one.)
      const revived = await sequences.lockHeld(held, client);
      reach.claimed();
      const stillHeld = new Set(revived);
      compared.push(...held.filter((envelope) => !stillHeld.has(envelope)));
      for (const envelope of await events.differingFromStored(compared, client))
        refuse(envelope, idReused(envelope, 'is stored with other content', bytesOf(envelope)));
      const fresh = [...claims.fresh.filter((use): use is Envelope => !signedRefusals.has(use)), ...revived];
      // One id twice among the new numbers: the first is stored, the rest refused after the insert.
      const insertable: Envelope[] = [];
      const sameIdInBatch: Envelope[] = [];
      const ids = new Set<string>();
      for (const envelope of fresh) {
        if (ids.has(envelope.id)) sameIdInBatch.push(envelope);
        else insertable.push(envelope);
        ids.add(envelope.id);
      }
      const insert = events.prepareInsert(insertable);
      // Computed while the transaction before may still hold the locks (see EventStore.digest).
      await events.digest(insert, client);
      await before.inserted;
      // Ingest numbers are taken and committed in order across dashboard instances: the insert
      // takes the ingest-order lock (migration 0016) before any chain lock. Quarantine raises
      // alarms, which take chain locks, so it takes the ingest-order lock first itself. (Only
      // then: taken before every insert, it would keep the insert's parameters from being
      // parsed while the transaction before commits, 11 % of the ingest's rate.)
      if (rejected.length > 0) await client.query('SELECT identgate_take_ingest_order()');
      for (const { message: index, rejection } of rejected) {
        const message = messages[index] as IncomingMessage;
        alarmChanges.push(
          ...(await quarantined(
            this.options,
            message.topic,
            rejection,
            rejection.payload ?? message.payload,
            client,
          )),
        );
      }
      stored = await events.insert(insert, client, reach.inserted);
      // A new number whose event was not stored carries the id of a stored event (the insert
      // skips an id it holds): its claim is let go, so that the number's own event can come.
      const storedIds = new Set(stored.map((e) => e.id));
      const reused = [...sameIdInBatch, ...insertable.filter((e) => !storedIds.has(e.id))];
      if (reused.length > 0) {
        // Only numbers this transaction claimed are let go; one held in quarantine stays held.
        await sequences.release(
          reused.filter((e) => !stillHeld.has(e)),
          client,
        );
        await client.query('SELECT identgate_take_ingest_order()');
        for (const envelope of reused) {
          const rejection = idReused(envelope, 'belongs to a stored event', bytesOf(envelope));
          refuse(envelope, rejection);
          const message = messages[(where.get(envelope) as At).message] as IncomingMessage;
          alarmChanges.push(
            ...(await quarantined(this.options, message.topic, rejection, rejection.payload, client)),
          );
        }
      }
      // Held in quarantine until now: the number's holder is stored.
      await sequences.storedAfterAll(
        revived.filter((e) => storedIds.has(e.id)),
        client,
      );
      await before.committed;
      await this.options.facts.apply(stored, client);
      const reusedSet = new Set(reused);
      freshEnvelopes = fresh.filter((e) => !reusedSet.has(e));
      alarmChanges.push(...(await alarms.applyGatewayEvents(freshEnvelopes, client)));
      // Delivered at the commit, in commit order, to every instance listening.
      notice = this.options.instance ? storedNotice(this.options.instance, stored) : undefined;
      // The gateways' highest numbers and the notice in one statement: the last before the commit.
      const retired = await sequences.noteHighest(
        claims.fresh.filter((use) => !reusedSet.has(use as Envelope)),
        client,
        notice ? { channel: STORED_CHANNEL, payload: notice } : undefined,
        revived,
      );
      if (retired.length > 0) throw new RetiredMeanwhile(retired);
      // Handed over before the commit: its notice may come back before COMMIT's answer does.
      if (notice) this.options.cluster?.stored(notice, stored);
    });
    reach.committed();
    if (notice) this.options.cluster?.committed(notice);
    const byId = new Map(stored.map((e) => [e.id, e]));
    const storedNow = new Set(freshEnvelopes);
    for (const { message, item, envelope } of accepted) {
      const event = storedNow.has(envelope) ? byId.get(envelope.id) : undefined;
      (outcomes[message] as IngestOutcome[])[item] = event
        ? { status: 'stored', event }
        : { status: 'duplicate' };
    }
    for (const { message, item, rejection } of rejected) {
      const { payload: _, uses: __, ...reason } = rejection;
      (outcomes[message] as IngestOutcome[])[item] = { status: 'quarantined', rejection: reason };
      const expected = !raisesAlarm(rejection.reason);
      log[expected ? 'info' : 'warn'](
        { topic: messages[message]?.topic, reason: rejection.reason, detail: rejection.detail },
        expected ? 'event quarantined' : 'security: event quarantined',
      );
    }
    if (!(this.options.cluster && this.options.instance)) this.options.hub.publish(stored);
    this.options.hub.publishAlarms(alarmChanges);
    if (freshEnvelopes.length > 0) this.options.afterCommit?.(freshEnvelopes);
    return outcomes;
  }

  /**
   * Keeps a payload (or one event of a batch) that could not be stored at all in the quarantine,
   * in a transaction of its own (see quarantineUnstorable in ingest-quarantine.ts).
   */
  quarantineUnstorable(
    topic: string,
    detail: string,
    payload: Buffer,
    uses?: NumberUse,
  ): Promise<IngestOutcome> {
    return quarantineUnstorable(this.options, topic, detail, payload, uses);
  }

  /**
   * Everything about a payload that needs no database, with this pipeline's gateway keys and
   * retention limit (see checkPayload in payload-checks.ts).
   */
  check(message: IncomingMessage, threads?: SignatureThreads): Promise<Checked[]> {
    return checkPayload(message, this.options, threads);
  }
}
