import type { KeyObject } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { type Logger, silentLogger } from '../../lib/logger.js';
import { canonicalJson } from '../../protocol/canonical.js';
import {
  batchSignatureInput,
  batchSigningBytes,
  checkEnvelope,
  decodePayload,
  type Envelope,
  type Rejection,
  SCHEMA_VERSION,
  type SignatureInput,
  signatureInput,
  signatureVerdict,
  signingBytes,
  type UnsignedEnvelope,
} from '../../protocol/envelope.js';
import { SIGNATURE_PATTERN } from '../../protocol/signing.js';
import { parseTopic } from '../../protocol/topics.js';
import { UUIDV7_PATTERN } from '../../protocol/uuidv7.js';
import { STORED_CHANNEL, storedNotice } from '../cluster-events.js';
import type { LiveHub } from '../live-hub.js';
import type { TooOld } from '../retention/event-age-limit.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { inTransaction } from '../storage/database.js';
import type { EventStore, StoredEvent } from '../storage/event-store.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import type { LatestFactsStore } from '../storage/latest-facts.js';
import type { QuarantineStore } from '../storage/quarantine-store.js';
import { type NumberUse, numberUseOf, type SequenceStore } from '../storage/sequence-store.js';
import { SignatureThreads } from './signature-threads.js';

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

/**
 * One event's verdict. A payload refused whole has one; a batch whose signature holds has one per
 * event, and a refused event of it carries its own bytes for the quarantine. A refused event that
 * its gateway signed names its sequence number (`uses`): the number is claimed for it, so the gap
 * it would leave is closed and a resend of it is not quarantined again.
 */
export type Checked = { ok: true; value: Envelope } | (Rejection & { payload?: Buffer; uses?: NumberUse });

/**
 * How far ahead of the central clock a signed event may be dated. Further, and it is quarantined
 * (`future-time`): it would hold the overview's facts for as long, and its day would lie beyond
 * retention's reach. Gateways keep their clocks synchronised and alarm when they are not.
 */
export const FUTURE_TIME_LIMIT_MS = 60 * 60_000;

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
  /**
   * Whether a signed event is older than anything retention keeps for its site and class, and no
   * legal hold covers it (EventAgeLimit.tooOld): then it is quarantined as `past-time`. Without
   * it any past time is taken.
   */
  tooOld?: (site: string, kind: string, at: number, now: number) => TooOld | undefined;
}

/**
 * How far a transaction of the pipeline has got. The next one waits on these, so that batches
 * overlap in the database without ever waiting on each other in a circle (see process()).
 */
interface Stages {
  claimed: Promise<void>;
  inserted: Promise<void>;
  committed: Promise<void>;
}

const DONE: Stages = {
  claimed: Promise.resolve(),
  inserted: Promise.resolve(),
  committed: Promise.resolve(),
};

export class IngestPipeline {
  /** The stages of the transaction started last. */
  private last: Stages = DONE;

  constructor(private readonly options: IngestPipelineOptions) {}

  /** This transaction's place after the one before; `reach` marks its own stages (and all, at the end). */
  private takeTurn(): { before: Stages; reach: Record<keyof Stages, () => void> } {
    const before = this.last;
    const reach = { claimed: () => {}, inserted: () => {}, committed: () => {} };
    this.last = {
      claimed: new Promise((resolve) => {
        reach.claimed = resolve;
      }),
      inserted: new Promise((resolve) => {
        reach.inserted = resolve;
      }),
      committed: new Promise((resolve) => {
        reach.committed = resolve;
      }),
    };
    return { before, reach };
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
      const { before, reach } = this.takeTurn();
      try {
        return await this.processInTurn(batch, before, reach);
      } catch (error) {
        if (!(error instanceof RetiredMeanwhile) || attempt >= 3) throw error;
        // Checked while this instance trusted the gateway; it is forgotten now (as the retirement's
        // notice would have it), and its messages are checked again: quarantined, as its own.
        for (const name of error.gateways) {
          const [site = '', id = ''] = name.split('/');
          this.options.registry.forget(site, id);
        }
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
          ...(await this.quarantined(message.topic, rejection, rejection.payload ?? message.payload, client)),
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
          alarmChanges.push(...(await this.quarantined(message.topic, rejection, rejection.payload, client)));
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
      log.warn(
        { topic: messages[message]?.topic, reason: rejection.reason, detail: rejection.detail },
        'security: event quarantined',
      );
    }
    if (!(this.options.cluster && this.options.instance)) this.options.hub.publish(stored);
    this.options.hub.publishAlarms(alarmChanges);
    if (freshEnvelopes.length > 0) this.options.afterCommit?.(freshEnvelopes);
    return outcomes;
  }

  /**
   * Keeps a payload (or one event of a batch) that could not be stored at all, though it passed
   * every check, in the quarantine as `unstorable`, with the critical alarm every quarantined
   * payload raises, in a transaction of its own (see EventIngest: a poison message must not stall
   * the ingest). The alarm is pushed live after the commit.
   */
  async quarantineUnstorable(
    topic: string,
    detail: string,
    payload: Buffer,
    uses?: NumberUse,
  ): Promise<IngestOutcome> {
    const { pool, log, hub, sequences, registry } = this.options;
    const rejection: Rejection = { ok: false, reason: 'unstorable', detail };
    const attempt = (use: NumberUse | undefined) =>
      inTransaction(pool, log, async (client) => {
        // The gateway signed this number: it is used, by an event kept in quarantine (see Checked).
        const claimed = use ? (await sequences.claim([use], client, new Set([use]))).fresh : [];
        // Alarms take chain locks: the ingest-order lock comes first, as in every ingest transaction.
        await client.query('SELECT identgate_take_ingest_order()');
        const raised = await this.quarantined(topic, rejection, payload, client);
        const retired = await sequences.noteHighest(claimed, client);
        if (retired.length > 0) throw new RetiredMeanwhile(retired);
        return raised;
      });
    let raised: AlarmView[];
    try {
      raised = await attempt(uses);
    } catch (error) {
      if (!(error instanceof RetiredMeanwhile && uses)) throw error;
      // Its gateway was retired meanwhile: kept all the same, but its number is not taken (the
      // retirement recorded the gateway's gaps as lost).
      registry.forget(uses.site, uses.gateway);
      raised = await attempt(undefined);
    }
    hub.publishAlarms(raised);
    return { status: 'quarantined', rejection };
  }

  /** Quarantines a payload with its reason and raises the critical `event-quarantined` alarm. */
  private async quarantined(
    topic: string,
    rejection: Rejection,
    payload: Buffer,
    client: PoolClient,
  ): Promise<AlarmView[]> {
    const { quarantine, alarms } = this.options;
    await quarantine.add(topic, rejection.reason, rejection.detail, payload, client);
    const address = parseTopic(topic);
    const site = address.ok ? address.address.site : undefined;
    const gateway = address.ok ? address.address.gateway : undefined;
    return alarms.raiseCentral(
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
  }

  /** A signed event's time: not too far ahead of the central clock, not before what retention keeps. */
  private inTime(envelope: Envelope, now: number): Checked {
    const at = Date.parse(envelope.time);
    return notAheadOrBefore(envelope, now, this.options.tooOld?.(envelope.site, envelope.kind, at, now));
  }

  /**
   * Topic, schema and signature: everything about a payload that needs no database. Signatures
   * are verified on the given threads, or in place without them.
   */
  async check(message: IncomingMessage, threads: SignatureThreads = IN_PLACE): Promise<Checked[]> {
    try {
      return await this.checkPayload(message, threads);
    } catch (error) {
      // Nothing a payload holds may stop the ingest: whatever could not be checked is refused.
      return [
        { ok: false, reason: 'bad-envelope', detail: `could not be checked: ${(error as Error).message}` },
      ];
    }
  }

  private async checkPayload(message: IncomingMessage, threads: SignatureThreads): Promise<Checked[]> {
    const address = parseTopic(message.topic);
    if (!address.ok || address.address.channel !== 'events') {
      return [
        {
          ok: false,
          reason: 'topic-mismatch',
          detail: address.ok ? `not an events topic: ${message.topic}` : address.reason,
        },
      ];
    }
    const { site, gateway } = address.address;
    const decoded = decodePayload(message.payload);
    const { keyFor } = this.options.registry;
    if (!decoded.ok) return [await signedRefusal(decoded, message.payload, site, gateway, keyFor, threads)];
    if (decoded.value.form === 'event') {
      const envelope = decoded.value.envelope;
      if (envelope.site !== site || envelope.gateway !== gateway) {
        return [mismatch(`event of ${envelope.site}/${envelope.gateway}`, site, gateway)];
      }
      const input = signatureInput(envelope, keyFor);
      if (!input.ok) return [input];
      const verdict = signatureVerdict(envelope, await verify(input, threads));
      return [verdict.ok ? this.inTime(envelope, Date.now()) : verdict];
    }
    const batch = decoded.value.batch;
    if (batch.site !== site || batch.gateway !== gateway) {
      return [mismatch(`batch of ${batch.site}/${batch.gateway}`, site, gateway)];
    }
    const input = batchSignatureInput(batch, keyFor, message.payload);
    if (!input.ok) return [input];
    // Bytes cut from the payload that do not verify may still belong to a sound batch sent in
    // another layout: its canonical JSON decides.
    const verified =
      (await verify(input, threads)) ||
      (input.asSent === true && (await verify({ ...input, bytes: batchSigningBytes(batch) }, threads)));
    if (!verified) {
      return [
        {
          ok: false,
          reason: 'bad-signature',
          detail: `batch signature does not verify with the key of ${site}/${gateway}`,
        },
      ];
    }
    // Signed by the gateway as a whole: each event is now checked for its shape alone, and one
    // that fails is refused on its own while the rest are stored.
    const count = batch.events.length;
    const now = Date.now();
    return batch.events.map((raw, index): Checked => {
      const checked = checkEnvelope(raw);
      const verdict: Checked =
        checked.ok && (checked.value.site !== site || checked.value.gateway !== gateway)
          ? mismatch(`event of ${checked.value.site}/${checked.value.gateway}`, site, gateway)
          : checked.ok
            ? this.inTime(checked.value, now)
            : checked;
      if (verdict.ok) return verdict;
      const uses = verdict.uses ?? numberUse(raw, site, gateway);
      return {
        ...verdict,
        detail: `event ${index + 1} of ${count} in a batch: ${verdict.detail}`,
        payload: eventPayload(raw),
        ...(uses ? { uses } : {}),
      };
    });
  }
}

/** Gateways retired after their events were checked here (see SequenceStore.noteHighest). */
class RetiredMeanwhile extends CodedError {
  constructor(readonly gateways: string[]) {
    super('IDG_GATEWAY_RETIRED', `gateways retired meanwhile: ${gateways.join(', ')}`);
  }
}

/** Whose number a verdict names, as `site/id`: its event's, or the one a signed refusal uses. */
function gatewayOf(checked: Checked): string | undefined {
  const use = checked.ok ? checked.value : checked.uses;
  return use ? `${use.site}/${use.gateway}` : undefined;
}

/**
 * What quarantine keeps of one event refused on its own: the payload as received when the message
 * held that event alone, else the event's own bytes (one of a gateway's batch).
 */
export function eventBytes(message: { payload: Buffer }, eventsInMessage: number, event: unknown): Buffer {
  return eventsInMessage === 1 ? message.payload : Buffer.from(JSON.stringify(event));
}

const ENVELOPE_KEYS = ['data', 'gateway', 'id', 'kind', 'seq', 'sig', 'site', 'time', 'v'].join();

/**
 * A single event refused for its kind, data or time may still be one its gateway signed: then
 * its number is used (see Checked). Only an object with exactly an event's members, whose
 * signature holds over them, names a number; anything else names none, so that no one but the
 * gateway can take one of its numbers. Runs for refused payloads only.
 */
async function signedRefusal(
  refusal: Rejection,
  payload: Buffer,
  site: string,
  gateway: string,
  keyFor: (site: string, gateway: string) => KeyObject | undefined,
  threads: SignatureThreads,
): Promise<Checked> {
  if (!['unknown-kind', 'bad-data', 'bad-envelope'].includes(refusal.reason)) return refusal;
  try {
    const raw: unknown = JSON.parse(payload.toString('utf8'));
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return refusal;
    if (Object.keys(raw).sort().join() !== ENVELOPE_KEYS) return refusal;
    const { v, id, kind, seq, time, data, sig } = raw as Record<string, unknown>;
    const uses = numberUse(raw, site, gateway);
    const key = keyFor(site, gateway);
    if (!uses || !key || v !== SCHEMA_VERSION || typeof kind !== 'string' || typeof time !== 'string')
      return refusal;
    if (typeof sig !== 'string' || !SIGNATURE.test(sig)) return refusal;
    const bytes = signingBytes({ v, id, kind, site, gateway, seq, time, data } as UnsignedEnvelope);
    const signed = await threads.verify(key, bytes, Buffer.from(sig, 'base64url'));
    return signed ? { ...refusal, uses } : refusal;
  } catch {
    return refusal;
  }
}

/** The refusal of an event whose id is taken by another event: `replayed-id`. */
function idReused(envelope: Envelope, how: string, payload: Buffer): Rejection & { payload: Buffer } {
  return {
    ok: false,
    reason: 'replayed-id',
    detail: `event id ${envelope.id} (sequence ${envelope.seq} of ${envelope.site}/${envelope.gateway}) ${how}`,
    payload,
  };
}

/** Whether two events under one id and number are the same signed event. */
function sameEvent(a: Envelope, b: Envelope): boolean {
  return (
    a.sig === b.sig &&
    a.time === b.time &&
    a.kind === b.kind &&
    canonicalJson(a.data) === canonicalJson(b.data)
  );
}

/**
 * A signed event, refused when it is dated more than FUTURE_TIME_LIMIT_MS after `now`, or when it
 * is older than what retention keeps (`tooOld`).
 */
function notAheadOrBefore(envelope: Envelope, now: number, tooOld: TooOld | undefined): Checked {
  const ahead = Date.parse(envelope.time) - now;
  if (ahead > FUTURE_TIME_LIMIT_MS)
    return {
      ok: false,
      reason: 'future-time',
      detail: `dated ${envelope.time}, ${Math.round(ahead / 60_000)} min ahead of the central clock`,
      uses: numberUseOf(envelope),
    };
  if (tooOld) {
    // Personal data already past its retention: quarantine keeps only what names the event (its
    // number is claimed), not what it says about anyone.
    const { v, id, site, gateway, seq, time, kind } = envelope;
    return {
      ok: false,
      reason: 'past-time',
      detail: `dated ${envelope.time}, older than the ${tooOld.days} days retention keeps it (${tooOld.source})`,
      payload: Buffer.from(JSON.stringify({ v, id, site, gateway, seq, time, kind })),
      uses: numberUseOf(envelope),
    };
  }
  return { ok: true, value: envelope };
}

/**
 * The number a refused event of a signed batch used, when it names one plainly: its gateway's,
 * a positive whole number and a UUIDv7 id (as every event id is). Anything less is quarantined without a claim.
 */
function numberUse(raw: unknown, site: string, gateway: string): NumberUse | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { site: s, gateway: g, seq, id } = raw as Record<string, unknown>;
  if (s !== site || g !== gateway) return undefined;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  if (typeof id !== 'string' || !EVENT_ID.test(id)) return undefined;
  return { site, gateway, seq, id };
}

const EVENT_ID = new RegExp(UUIDV7_PATTERN);
const SIGNATURE = new RegExp(SIGNATURE_PATTERN);

/** One event's bytes for the quarantine; an event too deep to serialise is kept as a note. */
function eventPayload(raw: unknown): Buffer {
  try {
    return Buffer.from(JSON.stringify(raw));
  } catch (error) {
    return Buffer.from(JSON.stringify({ unserialisable: (error as Error).message.slice(0, 200) }));
  }
}

/** Verifies on the calling thread: SignatureThreads without threads. */
const IN_PLACE = new SignatureThreads(0, silentLogger);

function mismatch(what: string, site: string, gateway: string): Rejection {
  return { ok: false, reason: 'topic-mismatch', detail: `${what} published on ${site}/${gateway}` };
}

function verify(input: SignatureInput, threads: SignatureThreads): Promise<boolean> {
  return threads.verify(input.key, input.bytes, input.signature);
}
