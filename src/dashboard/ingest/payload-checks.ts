import type { KeyObject } from 'node:crypto';
import { silentLogger } from '../../lib/logger.js';
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
import type { TooOld } from '../retention/event-age-limit.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import { type NumberUse, numberUseOf } from '../storage/sequence-store.js';
import { SignatureThreads } from './signature-threads.js';

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

/** What checking a payload reads: its gateway's key, and how far back retention reaches. */
export interface PayloadCheckOptions {
  registry: Pick<GatewayRegistry, 'keyFor'>;
  /**
   * Whether a signed event is older than anything retention keeps for its site and class, and no
   * legal hold covers it (EventAgeLimit.tooOld): then it is quarantined as `past-time`. Without
   * it any past time is taken.
   */
  tooOld?: (site: string, kind: string, at: number, now: number) => TooOld | undefined;
}

/**
 * Topic, schema and signature: everything about a payload that needs no database. Signatures
 * are verified on the given threads, or in place without them.
 */
export async function checkPayload(
  message: { topic: string; payload: Buffer },
  options: PayloadCheckOptions,
  threads: SignatureThreads = IN_PLACE,
): Promise<Checked[]> {
  try {
    return await checkUnguarded(message, options, threads);
  } catch (error) {
    // Nothing a payload holds may stop the ingest: whatever could not be checked is refused.
    return [
      { ok: false, reason: 'bad-envelope', detail: `could not be checked: ${(error as Error).message}` },
    ];
  }
}

async function checkUnguarded(
  message: { topic: string; payload: Buffer },
  options: PayloadCheckOptions,
  threads: SignatureThreads,
): Promise<Checked[]> {
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
  const { keyFor } = options.registry;
  if (!decoded.ok) return [await signedRefusal(decoded, message.payload, site, gateway, keyFor, threads)];
  if (decoded.value.form === 'event') {
    const envelope = decoded.value.envelope;
    if (envelope.site !== site || envelope.gateway !== gateway) {
      return [mismatch(`event of ${envelope.site}/${envelope.gateway}`, site, gateway)];
    }
    const input = signatureInput(envelope, keyFor);
    if (!input.ok) return [input];
    const verdict = signatureVerdict(envelope, await verify(input, threads));
    return [verdict.ok ? inTime(envelope, Date.now(), options) : verdict];
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
          ? inTime(checked.value, now, options)
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

/** A signed event's time: not too far ahead of the central clock, not before what retention keeps. */
function inTime(envelope: Envelope, now: number, options: PayloadCheckOptions): Checked {
  const at = Date.parse(envelope.time);
  return notAheadOrBefore(envelope, now, options.tooOld?.(envelope.site, envelope.kind, at, now));
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
    return {
      ok: false,
      reason: 'past-time',
      detail: `dated ${envelope.time}, older than the ${tooOld.days} days retention keeps it (${tooOld.source})`,
      payload: namingOnly(envelope),
      uses: numberUseOf(envelope),
    };
  }
  return { ok: true, value: envelope };
}

/** What quarantine keeps of a signed event whose data it must not keep: what names the event. */
export function namingOnly({ v, id, site, gateway, seq, time, kind }: Envelope): Buffer {
  return Buffer.from(JSON.stringify({ v, id, site, gateway, seq, time, kind }));
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
