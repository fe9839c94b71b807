import type { KeyObject } from 'node:crypto';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { canonicalJson } from './canonical.js';
import { type EventBody, type EventKind, eventDataSchemas, isEventKind } from './event-kinds.js';
import { ID_PATTERN } from './ids.js';
import { signBytes, verifyRawSignature } from './signing.js';
import { UUIDV7_PATTERN } from './uuidv7.js';

export const SCHEMA_VERSION = 1;
/** Far above any real event; caps what a hostile publisher can make the ingest parse. */
export const MAX_ENVELOPE_BYTES = 64 * 1024;
export const TIME_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$';

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
    sig: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' }),
  },
  { additionalProperties: false },
);

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
  /** Passed every check but could not be stored (kept in quarantine instead of blocking the ingest). */
  | 'unstorable';

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
    lines.push(`${prefix}${error.instancePath || '/'} ${error.message}`);
    if (lines.length === 3) break;
  }
  return lines.join('; ') || 'does not match the schema';
}

export function signingBytes(envelope: UnsignedEnvelope): Buffer {
  const { v, id, kind, site, gateway, seq, time, data } = envelope;
  return Buffer.from(canonicalJson({ v, id, kind, site, gateway, seq, time, data }), 'utf8');
}

export function signEnvelope(unsigned: UnsignedEnvelope, privateKey: KeyObject): Envelope {
  return { ...unsigned, sig: signBytes(privateKey, signingBytes(unsigned)) } as Envelope;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses and checks the shape of one payload: JSON, envelope, version, kind and the kind's data.
 * Says nothing yet about who sent it; see {@link verifySignature}.
 */
export function decodeEnvelope(payload: Uint8Array | string): Checked<Envelope> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_ENVELOPE_BYTES) return reject('too-large', `${size} bytes exceeds ${MAX_ENVELOPE_BYTES}`);
  let text: string;
  let parsed: unknown;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
    parsed = JSON.parse(text);
  } catch (error) {
    return reject('bad-json', (error as Error).message.slice(0, 200));
  }
  // PostgreSQL text and jsonb cannot hold U+0000; no legitimate event contains it.
  if (text.includes('\\u0000')) return reject('bad-data', 'payload contains an escaped NUL character');
  if (typeof parsed === 'object' && parsed !== null && 'v' in parsed && parsed.v !== SCHEMA_VERSION) {
    return reject(
      'unsupported-version',
      `schema version ${JSON.stringify(parsed.v)}; this build reads ${SCHEMA_VERSION}`,
    );
  }
  if (!envelopeValidator.Check(parsed)) {
    return reject('bad-envelope', describeSchemaErrors(envelopeValidator, parsed));
  }
  if (Number.isNaN(Date.parse(parsed.time)))
    return reject('bad-envelope', `/time ${parsed.time} is not a real instant`);
  if (!isEventKind(parsed.kind))
    return reject('unknown-kind', `kind ${JSON.stringify(parsed.kind)} is not known`);
  const validator = dataValidator(parsed.kind);
  if (!validator.Check(parsed.data)) {
    return reject('bad-data', `${parsed.kind}: ${describeSchemaErrors(validator, parsed.data, '/data')}`);
  }
  return { ok: true, value: parsed as Envelope };
}

/** What checking an envelope's signature takes: its gateway's key, the signed bytes, the signature. */
export interface SignatureInput {
  ok: true;
  key: KeyObject;
  bytes: Buffer;
  signature: Buffer;
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
