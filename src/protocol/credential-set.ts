import type { KeyObject } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { CodedError } from '../lib/coded-error.js';
import { canonicalJson } from './canonical.js';
import { type EncryptionKeyPair, openSealed, type Sealed, sealFor } from './ecies.js';
import { describeSchemaErrors, TIME_PATTERN } from './envelope.js';
import { ID_PATTERN } from './ids.js';
import { type CentralKeys, SIGNATURE_PATTERN, signBytes, verifyByAny } from './signing.js';

/**
 * The credential set the central side publishes for one gateway: every credential the gateway
 * needs to decide offline (revoked badges first), signed with the central key and then encrypted
 * to the gateway's P-256 key. Versions only go up; a gateway refuses anything not newer than
 * what it has.
 */
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
const Weekday = Type.Union([
  Type.Literal('mon'),
  Type.Literal('tue'),
  Type.Literal('wed'),
  Type.Literal('thu'),
  Type.Literal('fri'),
  Type.Literal('sat'),
  Type.Literal('sun'),
]);
const TimeOfDay = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' });

/**
 * Weekly access windows in a time zone. A window runs from `from` (inclusive) to `to`
 * (exclusive) on each listed day; `to` earlier than `from` runs past midnight into the next day.
 */
export const WeeklySchedule = Type.Object(
  {
    timezone: Type.String({ minLength: 1, maxLength: 64 }),
    windows: Type.Array(
      Type.Object(
        { days: Type.Array(Weekday, { minItems: 1, maxItems: 7 }), from: TimeOfDay, to: TimeOfDay },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 32 },
    ),
  },
  { additionalProperties: false },
);
export type WeeklySchedule = Static<typeof WeeklySchedule>;

/**
 * One credential. A revoked badge carries only what a gateway needs to refuse it and say whose it
 * was (`badge`, `person`, `status`): its holder's name and TOTP secret stay central (GDPR Art.
 * 5(1)(c)). An active one carries its `name` and `totpSecret` (see checkCredentials). Sets from
 * before, with every revoked entry complete, are read all the same.
 */
export const SyncedCredential = Type.Object(
  {
    badge: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9:_-]+$' }),
    person: Type.String({ pattern: ID_PATTERN }),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    validFrom: Type.Optional(Type.Integer()),
    validUntil: Type.Optional(Type.Integer()),
    totpSecret: Type.Optional(Type.String({ pattern: '^[A-Z2-7]{32,}=*$' })),
    schedule: Type.Optional(WeeklySchedule),
    backgroundCheckOn: Type.Optional(Day),
    trainingOn: Type.Optional(Day),
    mayOpenRoom: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SyncedCredential = Static<typeof SyncedCredential>;

const CredentialSetBody = Type.Object(
  {
    v: Type.Literal(1),
    site: Type.String({ pattern: ID_PATTERN }),
    gateway: Type.String({ pattern: ID_PATTERN }),
    version: Type.Integer({ minimum: 1 }),
    issuedAt: Type.String({ pattern: TIME_PATTERN }),
    credentials: Type.Array(SyncedCredential, { maxItems: 100_000 }),
  },
  { additionalProperties: false },
);
export type CredentialSetBody = Static<typeof CredentialSetBody>;

const SignedSet = Type.Object(
  { body: CredentialSetBody, sig: Type.String({ pattern: SIGNATURE_PATTERN }) },
  { additionalProperties: false },
);
const bodyValidator = Compile(SignedSet);

const SealedSchema = Type.Object(
  {
    alg: Type.Literal('ECDH-P256+HKDF-SHA256+A256GCM'),
    epk: Type.String({ maxLength: 100 }),
    iv: Type.String({ maxLength: 32 }),
    ct: Type.String({ maxLength: 64 * 1024 * 1024 }),
    tag: Type.String({ maxLength: 32 }),
  },
  { additionalProperties: false },
);
const sealedValidator = Compile(SealedSchema);

const context = (site: string, gateway: string) => `identgate/credential-set/v1/${site}/${gateway}`;

/** Signs with the central key, then encrypts to the gateway. */
/**
 * The largest sealed credential set a gateway opens (about 30,000 credentials). The gateway
 * refuses a larger payload before it parses anything: parsing runs on the thread that runs the
 * doors, and a payload of 100 MB held it up for seconds (and is retained at the broker, so it
 * comes again at every reconnect).
 */
export const MAX_CREDENTIAL_SET_BYTES = 16 * 1024 * 1024;

export function sealCredentialSet(
  body: CredentialSetBody,
  centralKey: KeyObject,
  gatewayKey: KeyObject,
): Buffer {
  const signed = { body, sig: signBytes(centralKey, Buffer.from(canonicalJson(body))) };
  const sealed = Buffer.from(
    JSON.stringify(
      sealFor(gatewayKey, Buffer.from(JSON.stringify(signed)), context(body.site, body.gateway)),
    ),
  );
  if (sealed.length > MAX_CREDENTIAL_SET_BYTES)
    throw new CodedError(
      'IDG_CREDENTIALS_TOO_LARGE',
      `the credential set of ${body.site}/${body.gateway} (${body.credentials.length} credentials) seals to ${sealed.length} bytes, more than a gateway takes (${MAX_CREDENTIAL_SET_BYTES})`,
    );
  return sealed;
}

/** The first active credential without its holder's name or TOTP secret, described; else undefined. */
export function incompleteCredential(credentials: readonly SyncedCredential[]): string | undefined {
  const index = credentials.findIndex(
    (c) => c.status === 'active' && (c.totpSecret === undefined || c.name === undefined),
  );
  return index < 0 ? undefined : `/credentials/${index} is active without its name or TOTP secret`;
}

export type CredentialSetCheck = { ok: true; body: CredentialSetBody } | { ok: false; reason: string };

/** Decrypts with the gateway's key and verifies the central signature and the addressee. */
export function openCredentialSet(
  payload: Buffer,
  gatewayKeys: EncryptionKeyPair,
  centralKeys: CentralKeys,
  self: { site: string; gateway: string },
): CredentialSetCheck {
  if (payload.length > MAX_CREDENTIAL_SET_BYTES)
    return { ok: false, reason: `too large: ${payload.length} bytes, at most ${MAX_CREDENTIAL_SET_BYTES}` };
  let sealed: unknown;
  try {
    sealed = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!sealedValidator.Check(sealed))
    return { ok: false, reason: `not a sealed message: ${describeSchemaErrors(sealedValidator, sealed)}` };
  let signed: unknown;
  try {
    signed = JSON.parse(
      openSealed(gatewayKeys, sealed as Sealed, context(self.site, self.gateway)).toString('utf8'),
    );
  } catch {
    return { ok: false, reason: 'cannot decrypt: not sealed for this gateway, or tampered' };
  }
  if (!bodyValidator.Check(signed))
    return { ok: false, reason: `bad credential set: ${describeSchemaErrors(bodyValidator, signed)}` };
  const incomplete = incompleteCredential(signed.body.credentials);
  if (incomplete) return { ok: false, reason: `bad credential set: ${incomplete}` };
  // The pattern lets a month 13 through; the offline horizon counts from this time.
  if (!Number.isFinite(Date.parse(signed.body.issuedAt)))
    return { ok: false, reason: `bad credential set: /body/issuedAt ${signed.body.issuedAt} is not a time` };
  if (!verifyByAny(centralKeys, Buffer.from(canonicalJson(signed.body)), signed.sig)) {
    return { ok: false, reason: 'signature does not verify with the central key' };
  }
  if (signed.body.site !== self.site || signed.body.gateway !== self.gateway) {
    return { ok: false, reason: `addressed to ${signed.body.site}/${signed.body.gateway}` };
  }
  return { ok: true, body: signed.body };
}
