import { createCipheriv, createDecipheriv, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { canonicalJson } from './canonical.js';
import { exportEncryptionKey, importEncryptionKey } from './ecies.js';
import { describeSchemaErrors, TIME_PATTERN } from './envelope.js';
import { ID_PATTERN } from './ids.js';
import { type CentralKeys, SIGNATURE_PATTERN, signBytes, verifyByAny, verifyBytes } from './signing.js';
import { UUIDV7_PATTERN } from './uuidv7.js';
import { checkValidity } from './validity.js';

/**
 * Footage from a gateway to the dashboard over the MQTT connections both already hold (mutual
 * TLS, per-identity ACL): the dashboard sends a request signed with the central key that carries
 * a one-time P-256 public key; the gateway decrypts its footage itself (the day keys never leave
 * it) and sends it back encrypted to that one-time key, in AES-256-GCM chunks, after a header
 * signed with its identity key. The broker relays only ciphertext; a forged request gets nothing.
 */
const Id = Type.String({ pattern: ID_PATTERN });
const strict = { additionalProperties: false } as const;

/** `<camera>/<YYYY-MM-DD>/<file>`, as `video.footage-linked` names a clip or snapshot. */
export const FOOTAGE_FILE_PATTERN =
  '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}/\\d{4}-\\d{2}-\\d{2}/[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$';

const FootageWhat = Type.Union([
  Type.Object(
    {
      kind: Type.Literal('range'),
      camera: Id,
      from: Type.String({ pattern: TIME_PATTERN }),
      to: Type.String({ pattern: TIME_PATTERN }),
    },
    strict,
  ),
  Type.Object({ kind: Type.Literal('file'), file: Type.String({ pattern: FOOTAGE_FILE_PATTERN }) }, strict),
]);
export type FootageWhat = Static<typeof FootageWhat>;

const FootageRequestSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ pattern: UUIDV7_PATTERN }),
    site: Id,
    gateway: Id,
    what: FootageWhat,
    /** The dashboard's one-time key; the footage is encrypted to it. */
    epk: Type.String({ pattern: '^p256:[A-Za-z0-9_-]{87}$' }),
    issuedAt: Type.String({ pattern: TIME_PATTERN }),
    expiresAt: Type.String({ pattern: TIME_PATTERN }),
    sig: Type.String({ pattern: SIGNATURE_PATTERN }),
  },
  strict,
);
export type FootageRequest = Static<typeof FootageRequestSchema>;

export type FootageStatus = 'ok' | 'not-found' | 'rejected' | 'failed';

const FootageHeadSchema = Type.Object(
  {
    v: Type.Literal(1),
    t: Type.Literal('head'),
    request: Type.String({ pattern: UUIDV7_PATTERN }),
    site: Id,
    gateway: Id,
    status: Type.Union([
      Type.Literal('ok'),
      Type.Literal('not-found'),
      Type.Literal('rejected'),
      Type.Literal('failed'),
    ]),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    contentType: Type.Optional(Type.String({ maxLength: 64 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    chunkSize: Type.Optional(Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024 })),
    sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    from: Type.Optional(Type.String({ pattern: TIME_PATTERN })),
    to: Type.Optional(Type.String({ pattern: TIME_PATTERN })),
    /** The gateway's one-time key for this answer. */
    epk: Type.Optional(Type.String({ pattern: '^p256:[A-Za-z0-9_-]{87}$' })),
    sig: Type.String({ pattern: SIGNATURE_PATTERN }),
  },
  strict,
);
export type FootageHead = Static<typeof FootageHeadSchema>;
export type UnsignedFootageHead = Omit<FootageHead, 'sig' | 'v' | 't'>;

const requestValidator = Compile(FootageRequestSchema);
const headValidator = Compile(FootageHeadSchema);

/** A request is valid for at most this long; the gateway refuses longer validity. */
export const MAX_FOOTAGE_REQUEST_VALIDITY_MS = 2 * 60_000;
export const FOOTAGE_CHUNK_BYTES = 256 * 1024;
/** The first byte of a chunk message; a head is JSON and starts with `{`. */
const CHUNK_MARK = 0x01;

function unsignedBytes(value: Record<string, unknown>): Buffer {
  const { sig: _sig, ...rest } = value;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export function signFootageRequest(
  fields: { id: string; site: string; gateway: string; what: FootageWhat; epk: string },
  nowMs: number,
  validityMs: number,
  centralKey: KeyObject,
): FootageRequest {
  const unsigned = {
    v: 1 as const,
    ...fields,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + Math.min(validityMs, MAX_FOOTAGE_REQUEST_VALIDITY_MS)).toISOString(),
  };
  return { ...unsigned, sig: signBytes(centralKey, unsignedBytes(unsigned)) };
}

export type FootageRequestCheck =
  | { ok: true; request: FootageRequest }
  | {
      ok: false;
      reason: 'bad-json' | 'bad-request' | 'bad-signature' | 'wrong-gateway' | 'expired' | 'not-yet-valid';
      detail: string;
      id?: string;
    };

/** Parses and verifies a footage request addressed to this gateway (replay is the gateway's to track). */
export function checkFootageRequest(
  payload: Buffer,
  centralKeys: CentralKeys,
  self: { site: string; gateway: string },
  nowMs: number,
): FootageRequestCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'bad-json', detail: (error as Error).message.slice(0, 200) };
  }
  if (!requestValidator.Check(parsed))
    return { ok: false, reason: 'bad-request', detail: describeSchemaErrors(requestValidator, parsed) };
  const request = parsed;
  const id = request.id;
  if (!verifyByAny(centralKeys, unsignedBytes(request), request.sig))
    return {
      ok: false,
      reason: 'bad-signature',
      detail: 'signature does not verify with the central key',
      id,
    };
  if (request.site !== self.site || request.gateway !== self.gateway)
    return {
      ok: false,
      reason: 'wrong-gateway',
      detail: `addressed to ${request.site}/${request.gateway}`,
      id,
    };
  const problem = checkValidity(request.issuedAt, request.expiresAt, nowMs, MAX_FOOTAGE_REQUEST_VALIDITY_MS);
  if (problem) {
    const reason = problem.reason === 'implausible' ? 'bad-request' : problem.reason;
    return { ok: false, reason, detail: problem.detail, id };
  }
  return { ok: true, request };
}

export function signFootageHead(head: UnsignedFootageHead, gatewayKey: KeyObject): Buffer {
  const unsigned = { v: 1 as const, t: 'head' as const, ...head };
  const signed = { ...unsigned, sig: signBytes(gatewayKey, unsignedBytes(unsigned)) };
  return Buffer.from(JSON.stringify(signed), 'utf8');
}

/** Whether a message on a footage topic is a chunk (else it is a head). */
export function isFootageChunk(payload: Buffer): boolean {
  return payload[0] === CHUNK_MARK;
}

export function checkFootageHead(
  payload: Buffer,
  gatewayKey: KeyObject,
): { ok: true; head: FootageHead } | { ok: false; detail: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { ok: false, detail: `not JSON: ${(error as Error).message.slice(0, 200)}` };
  }
  if (!headValidator.Check(parsed)) return { ok: false, detail: describeSchemaErrors(headValidator, parsed) };
  if (!verifyBytes(gatewayKey, unsignedBytes(parsed), parsed.sig))
    return { ok: false, detail: "signature does not verify with the gateway's key" };
  return { ok: true, head: parsed };
}

/** Both sides' AES-256-GCM key and base IV for one answer, from ECDH of the two one-time keys. */
export interface TransferKey {
  key: Buffer;
  iv: Buffer;
  request: string;
}

function transferKey(
  ownPrivate: KeyObject,
  peerPublic: string,
  gatewayEpk: string,
  dashboardEpk: string,
  request: string,
): TransferKey {
  const shared = diffieHellman({ privateKey: ownPrivate, publicKey: importEncryptionKey(peerPublic) });
  const material = Buffer.from(
    hkdfSync(
      'sha256',
      shared,
      Buffer.from(`${gatewayEpk}|${dashboardEpk}`, 'utf8'),
      Buffer.from(`identgate/v1 footage ${request}`, 'utf8'),
      44,
    ),
  );
  return { key: material.subarray(0, 32), iv: material.subarray(32), request };
}

/** The gateway's side: its one-time key pair is made here; `epk` goes into the signed head. */
export function gatewayTransferKey(
  dashboardEpk: string,
  request: string,
  oneTime: { privateKey: KeyObject; publicKey: KeyObject },
): TransferKey & { epk: string } {
  const epk = exportEncryptionKey(oneTime.publicKey);
  return { ...transferKey(oneTime.privateKey, dashboardEpk, epk, dashboardEpk, request), epk };
}

export function dashboardTransferKey(
  own: { privateKey: KeyObject; publicKey: KeyObject },
  gatewayEpk: string,
  request: string,
): TransferKey {
  return transferKey(own.privateKey, gatewayEpk, gatewayEpk, exportEncryptionKey(own.publicKey), request);
}

function chunkIv(base: Buffer, index: number): Buffer {
  const iv = Buffer.from(base);
  iv.writeUInt32BE((iv.readUInt32BE(8) ^ index) >>> 0, 8);
  return iv;
}

function chunkAad(key: TransferKey, index: number, final: boolean): Buffer {
  const tail = Buffer.alloc(5);
  tail.writeUInt32BE(index, 0);
  tail[4] = final ? 1 : 0;
  return Buffer.concat([Buffer.from(key.request, 'utf8'), tail]);
}

/** One chunk message: mark, index, ciphertext and tag; the last chunk is sealed as final. */
export function sealFootageChunk(key: TransferKey, index: number, plain: Buffer, final: boolean): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key.key, chunkIv(key.iv, index));
  cipher.setAAD(chunkAad(key, index, final));
  const header = Buffer.alloc(5);
  header[0] = CHUNK_MARK;
  header.writeUInt32BE(index, 1);
  return Buffer.concat([header, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** Opens a chunk message; throws when it was altered, moved, or sealed for another answer. */
export function openFootageChunk(
  key: TransferKey,
  message: Buffer,
  chunks: number,
): { index: number; plain: Buffer } {
  if (message.length < 5 + 16 || message[0] !== CHUNK_MARK) throw new Error('not a footage chunk');
  const index = message.readUInt32BE(1);
  if (index >= chunks) throw new Error(`chunk ${index} beyond the announced ${chunks}`);
  const decipher = createDecipheriv('aes-256-gcm', key.key, chunkIv(key.iv, index));
  decipher.setAAD(chunkAad(key, index, index === chunks - 1));
  decipher.setAuthTag(message.subarray(message.length - 16));
  const plain = Buffer.concat([decipher.update(message.subarray(5, message.length - 16)), decipher.final()]);
  return { index, plain };
}
