import type { KeyObject } from 'node:crypto';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { canonicalJson } from './canonical.js';
import { type EventBody, type EventKind, eventDataSchemas, isEventKind } from './event-kinds.js';
import { ID_PATTERN } from './ids.js';
import { SIGNATURE_PATTERN, signBytes, verifyRawSignature } from './signing.js';
import { UUIDV7_PATTERN } from './uuidv7.js';

export const SCHEMA_VERSION = 1;
/** Far above any real event; caps what a hostile publisher can make the ingest parse. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;
export const TIME_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$';
/** A batch carries at most this many events (see {@link signBatch}) and is at most this large. */
export const MAX_BATCH_EVENTS = 500;
export const MAX_BATCH_BYTES = 1024 * 1024;
const SIGNATURE = Type.String({ pattern: SIGNATURE_PATTERN });

/** The envelope every event travels in. `data` is checked against its kind's schema separately. */
export const EnvelopeSchema = Type.Object(
  {
    v: Type.Integer({ minimum: 1 }),
    id: Type.String({ pattern: UUIDV7_PATTERN }),
    kind: Type.String({ maxLength: 64 }),
    site: Type.String({ pattern: ID_PATTERN }),
    gateway: Type.String({ pattern: ID_PATTERN }),
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    time: Type.String({ pattern: TIME_PATTERN }),
    data: Type.Object({}),
    sig: SIGNATURE,
  },
  { additionalProperties: false },
);

/**
 * Several events of one gateway in one message, signed once by the gateway: `sig` is its Ed25519
 * signature over the canonical JSON of the batch without `sig`, which holds every event whole,
 * each with its own signature. The events are checked one by one once the batch's signature holds.
 */
export const BatchSchema = Type.Object(
  {
    v: Type.Integer({ minimum: 1 }),
    site: Type.String({ pattern: ID_PATTERN }),
    gateway: Type.String({ pattern: ID_PATTERN }),
    events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH_EVENTS }),
    sig: SIGNATURE,
  },
  { additionalProperties: false },
);

export type EventBatch = Omit<Static<typeof BatchSchema>, 'events'> & { events: unknown[] };

type RawEnvelope = Static<typeof EnvelopeSchema>;

/** An envelope whose shape, kind and data have been checked; `kind` and `data` are typed together. */
export type Envelope = Omit<RawEnvelope, 'kind' | 'data'> & EventBody;
export type UnsignedEnvelope = Omit<Envelope, 'sig'>;

export type RejectReason =
  | 'too-large'
  | 'bad-json'
  | 'bad-envelope'
  | 'unsupported-version'
  | 'unknown-kind'
  | 'bad-data'
  | 'unknown-gateway'
  | 'bad-signature'
  | 'topic-mismatch'
  | 'replayed-sequence'
  /** The event id belongs to a stored event with another number or other content. */
  | 'replayed-id'
  /** Signed by its gateway, but dated further ahead of the central clock than clocks drift. */
  | 'future-time'
  /** Signed by its gateway, but dated before anything retention keeps (and no legal hold reaches back). */
  | 'past-time'
  /** Passed every check but could not be stored (kept in quarantine instead of blocking the ingest). */
  | 'unstorable'
  /** Signed by its gateway, but names a person erased on request, or one of their badges. */
  | 'erased-person';

export interface Rejection {
  ok: false;
  reason: RejectReason;
  detail: string;
}

export type Checked<T> = { ok: true; value: T } | Rejection;

function reject(reason: RejectReason, detail: string): Rejection {
  return { ok: false, reason, detail };
}

const envelopeValidator = Compile(EnvelopeSchema);
const batchValidator = Compile(BatchSchema);
const dataValidators = new Map<EventKind, Validator>();

function dataValidator(kind: EventKind) {
  let validator = dataValidators.get(kind);
  if (!validator) {
    validator = Compile(eventDataSchemas[kind] as TSchema) as Validator;
    dataValidators.set(kind, validator);
  }
  return validator;
}

/** First few schema errors as one line: `/data/door must match pattern …; …`. */
export function describeSchemaErrors(validator: Validator, value: unknown, prefix = ''): string {
  const lines: string[] = [];
  for (const error of validator.Errors(value)) {
    if (error.keyword === 'boolean') continue;
    lines.push(`${prefix}${error.instancePath || '/'} ${error.message}${extraNames(error.params)}`);
    if (lines.length === 3) break;
  }
  return lines.join('; ') || 'does not match the schema';
}

/**
 * The names an `additionalProperties` error found, quoted and cut short (they come from the
 * input): which field a schema lacks is what a reader of the refusal needs first.
 */
function extraNames(params: unknown): string {
  const names = (params as { additionalProperties?: unknown } | undefined)?.additionalProperties;
  if (!Array.isArray(names) || names.length === 0) return '';
  const shown = names.slice(0, 3).map((name) => JSON.stringify(String(name).slice(0, 40)));
  return `: ${shown.join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}`;
}

export function signingBytes(envelope: UnsignedEnvelope): Buffer {
  const { v, id, kind, site, gateway, seq, time, data } = envelope;
  return Buffer.from(canonicalJson({ v, id, kind, site, gateway, seq, time, data }), 'utf8');
}

export function signEnvelope(unsigned: UnsignedEnvelope, privateKey: KeyObject): Envelope {
  return { ...unsigned, sig: signBytes(privateKey, signingBytes(unsigned)) } as Envelope;
}

/** The bytes a gateway signs for a batch: the canonical JSON of everything in it but `sig`. */
export function batchSigningBytes(batch: Omit<EventBatch, 'sig'>): Buffer {
  const { v, site, gateway, events } = batch;
  return Buffer.from(canonicalJson({ v, site, gateway, events }), 'utf8');
}

/** One gateway's signed events as one batch (at most {@link MAX_BATCH_EVENTS}). */
export function signBatch(
  site: string,
  gateway: string,
  events: readonly Envelope[],
  privateKey: KeyObject,
): EventBatch {
  const unsigned = { v: SCHEMA_VERSION, site, gateway, events: [...events] };
  return { ...unsigned, sig: signBytes(privateKey, batchSigningBytes(unsigned)) };
}

/**
 * A signed batch as a gateway sends it: the signed bytes themselves (the canonical JSON of the
 * batch without `sig`) with `sig` added as the last member. The central side then verifies the
 * bytes it received instead of serialising the batch again (see {@link batchSignatureInput}).
 */
export function batchPayload(
  site: string,
  gateway: string,
  events: readonly Envelope[],
  privateKey: KeyObject,
): Buffer {
  const bytes = batchSigningBytes({ v: SCHEMA_VERSION, site, gateway, events: [...events] });
  const sig = signBytes(privateKey, bytes);
  return Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from(`,"sig":"${sig}"}`)]);
}

/**
 * The bytes a batch was signed over, cut from the payload as it arrived, when the payload has the
 * layout {@link batchPayload} writes: it ends in `,"sig":"<sig>"}` with the `sig` the payload
 * parsed to. Why the cut is sound, for a payload that parsed as JSON:
 * - its last `}` closes the top-level object, and `"<sig>"` before it is one string token (a
 *   signature holds no quote or backslash, and the quote before it follows a colon), so
 *   `"sig":"<sig>"` is the last member of the top-level object;
 * - what is left without that member is the same object without `sig`. Gateways sign nothing but
 *   canonical JSON of objects without `sig`, so a signature that holds over those bytes means the
 *   gateway signed exactly the batch that was parsed.
 * Undefined for any other layout; such a batch is verified over its canonical JSON, made again.
 */
export function batchBytesAsSent(payload: Uint8Array | string, sig: string): Buffer | undefined {
  const bytes =
    typeof payload === 'string'
      ? Buffer.from(payload, 'utf8')
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const tail = Buffer.from(`,"sig":"${sig}"}`);
  if (bytes.length <= tail.length || !bytes.subarray(bytes.length - tail.length).equals(tail))
    return undefined;
  return Buffer.concat([bytes.subarray(0, bytes.length - tail.length), CLOSE]);
}

const CLOSE = Buffer.from('}');

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses one payload of an events topic: a single event (checked as {@link decodeEnvelope}
 * does) or a batch, of which only the outer shape is checked here; its events are checked one by
 * one with {@link checkEnvelope} after its signature.
 */
export function decodePayload(
  payload: Uint8Array | string,
): Checked<{ form: 'event'; envelope: Envelope } | { form: 'batch'; batch: EventBatch }> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_BATCH_BYTES) return reject('too-large', `${size} bytes exceeds ${MAX_BATCH_BYTES}`);
  const parsed = parseJson(payload);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value) {
    const version = checkVersion(value);
    if (!version.ok) return version;
    if (!batchValidator.Check(value)) {
      return reject('bad-envelope', `batch: ${describeSchemaErrors(batchValidator, value)}`);
    }
    return { ok: true, value: { form: 'batch', batch: value } };
  }
  if (size > MAX_ENVELOPE_BYTES) return reject('too-large', `${size} bytes exceeds ${MAX_ENVELOPE_BYTES}`);
  const checked = checkEnvelope(value);
  return checked.ok ? { ok: true, value: { form: 'event', envelope: checked.value } } : checked;
}

/**
 * Parses and checks the shape of one payload: JSON, envelope, version, kind and the kind's data.
 * Says nothing yet about who sent it; see {@link verifySignature}.
 */
export function decodeEnvelope(payload: Uint8Array | string): Checked<Envelope> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_ENVELOPE_BYTES) return reject('too-large', `${size} bytes exceeds ${MAX_ENVELOPE_BYTES}`);
  const parsed = parseJson(payload);
  return parsed.ok ? checkEnvelope(parsed.value) : parsed;
}

function parseJson(payload: Uint8Array | string): Checked<unknown> {
  let text: string;
  let parsed: unknown;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
    parsed = JSON.parse(text);
  } catch (error) {
    return reject('bad-json', (error as Error).message.slice(0, 200));
  }
  return { ok: true, value: parsed };
}

function checkVersion(parsed: unknown): Checked<unknown> {
  if (typeof parsed === 'object' && parsed !== null && 'v' in parsed && parsed.v !== SCHEMA_VERSION) {
    return reject(
      'unsupported-version',
      `schema version ${JSON.stringify(parsed.v)}; this build reads ${SCHEMA_VERSION}`,
    );
  }
  return { ok: true, value: parsed };
}

/**
 * A time of TIME_PATTERN's form that names itself exactly: `Date.parse` also takes 30 February
 * and 24:00 (rolling them over, while the signature covers the text), which PostgreSQL refuses
 * or stores as another instant. Nothing this system records happened before 1970.
 */
export function isRealInstant(time: string): boolean {
  const ms = Date.parse(time);
  return !Number.isNaN(ms) && ms >= 0 && new Date(ms).toISOString() === time;
}

/**
 * Whether every string in `value` (keys too) can be stored: PostgreSQL's text and jsonb hold no
 * U+0000 and no lone UTF-16 surrogate (JSON escapes can write both). Walked without recursion.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function storableText(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (item.includes('\0') || LONE_SURROGATE.test(item)) return false;
    } else if (Array.isArray(item)) for (const inner of item) pending.push(inner);
    else if (typeof item === 'object' && item !== null) {
      for (const [key, inner] of Object.entries(item)) pending.push(key, inner);
    }
  }
  return true;
}

/** The checks of {@link decodeEnvelope} on a value already parsed (an event of a batch). */
export function checkEnvelope(parsed: unknown): Checked<Envelope> {
  const version = checkVersion(parsed);
  if (!version.ok) return version;
  if (!envelopeValidator.Check(parsed)) {
    return reject('bad-envelope', describeSchemaErrors(envelopeValidator, parsed));
  }
  if (!isRealInstant(parsed.time))
    return reject('bad-envelope', `/time ${parsed.time} is not a real instant`);
  if (!isEventKind(parsed.kind))
    return reject('unknown-kind', `kind ${JSON.stringify(parsed.kind)} is not known`);
  const data = checkEventData(parsed.kind, parsed.data);
  return data.ok ? { ok: true, value: parsed as Envelope } : data;
}

/** An event's data against its kind's schema: what the central side refuses as `bad-data`. */
export function checkEventData(kind: EventKind, data: unknown): Checked<unknown> {
  const validator = dataValidator(kind);
  if (!validator.Check(data))
    return reject('bad-data', `${kind}: ${describeSchemaErrors(validator, data, '/data')}`);
  if (!storableText(data)) return reject('bad-data', `${kind}: a NUL character or a lone surrogate in /data`);
  return { ok: true, value: data };
}

/** What checking an envelope's signature takes: its gateway's key, the signed bytes, the signature. */
export interface SignatureInput {
  ok: true;
  key: KeyObject;
  bytes: Buffer;
  signature: Buffer;
  /** The bytes were cut from a batch's payload as it arrived (see {@link batchBytesAsSent}). */
  asSent?: boolean;
}

/** The inputs of the signature check, or the rejection of an envelope whose gateway has no key. */
export function signatureInput(
  envelope: Envelope,
  keyFor: (site: string, gateway: string) => KeyObject | undefined,
): SignatureInput | Rejection {
  const key = keyFor(envelope.site, envelope.gateway);
  if (!key)
    return reject('unknown-gateway', `no key registered for gateway ${envelope.site}/${envelope.gateway}`);
  return { ok: true, key, bytes: signingBytes(envelope), signature: Buffer.from(envelope.sig, 'base64url') };
}

/**
 * The inputs of a batch's signature check, as {@link signatureInput} for one event. Given the
 * payload the batch was parsed from, the signed bytes are cut from it when it has the layout a
 * gateway writes (`asSent`); a check that fails over those must be repeated over the canonical
 * JSON (`batchSigningBytes`), which decides.
 */
export function batchSignatureInput(
  batch: EventBatch,
  keyFor: (site: string, gateway: string) => KeyObject | undefined,
  payload?: Uint8Array | string,
): SignatureInput | Rejection {
  const key = keyFor(batch.site, batch.gateway);
  if (!key) return reject('unknown-gateway', `no key registered for gateway ${batch.site}/${batch.gateway}`);
  const signature = Buffer.from(batch.sig, 'base64url');
  const asSent = payload === undefined ? undefined : batchBytesAsSent(payload, batch.sig);
  if (asSent) return { ok: true, key, bytes: asSent, signature, asSent: true };
  return { ok: true, key, bytes: batchSigningBytes(batch), signature };
}

/** The outcome of the signature check, however it was computed. */
export function signatureVerdict(envelope: Envelope, verified: boolean): Checked<Envelope> {
  if (!verified) {
    return reject(
      'bad-signature',
      `signature does not verify with the key of ${envelope.site}/${envelope.gateway}`,
    );
  }
  return { ok: true, value: envelope };
}

/** Checks the Ed25519 signature against the sending gateway's registered key. */
export function verifySignature(
  envelope: Envelope,
  keyFor: (site: string, gateway: string) => KeyObject | undefined,
): Checked<Envelope> {
  const input = signatureInput(envelope, keyFor);
  if (!input.ok) return input;
  return signatureVerdict(envelope, verifyRawSignature(input.key, input.bytes, input.signature));
}
