import { type KeyObject, randomBytes } from 'node:crypto';
import Type, { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { SALT_PATTERN } from './alarm-report.js';
import { canonicalJson } from './canonical.js';
import { describeSchemaErrors, TIME_PATTERN } from './envelope.js';
import { ID_PATTERN } from './ids.js';
import { type CentralKeys, SIGNATURE_PATTERN, signBytes, verifyByAny } from './signing.js';
import { UUIDV7_PATTERN } from './uuidv7.js';
import { checkValidity } from './validity.js';

/**
 * Commands from the central side to one gateway: signed with the central key, valid for a short
 * time, carrying a random nonce, never retained. A gateway executes each at most once and answers
 * with a `command.result` event.
 */
const Id = Type.String({ pattern: ID_PATTERN });
const strict = { additionalProperties: false } as const;

export const commandDataSchemas = {
  'door.unlock': Type.Object(
    { door: Id, durationMs: Type.Integer({ minimum: 1000, maximum: 3_600_000 }) },
    strict,
  ),
  'lockdown.set': Type.Object({ active: Type.Boolean(), room: Type.Optional(Id) }, strict),
  'evacuation.set': Type.Object({ active: Type.Boolean() }, strict),
  /** Fetch the current credential set again (the central side republishes it). */
  'credentials.sync': Type.Object({}, strict),
  /**
   * Report the alarm conditions held (an `alarm.conditions` event) once the alarm book has settled
   * after the start, their keys digested under `salt` (alarm-report.ts).
   */
  'alarms.report': Type.Object({ salt: Type.String({ pattern: SALT_PATTERN }) }, strict),
  /** Publish these journaled events again: the central side found them missing. */
  'events.resend': Type.Object(
    { fromSeq: Type.Integer({ minimum: 1 }), toSeq: Type.Integer({ minimum: 1 }) },
    strict,
  ),
} satisfies Record<string, TSchema>;

/** The widest range one `events.resend` may ask for (toSeq − fromSeq below it). */
export const MAX_RESEND_RANGE = 100_000;
/**
 * How a gateway's `failed` answer to `events.resend` begins when its journal no longer holds any
 * of the events: the one answer on which the central side records them as lost for good.
 */
export const RESEND_GONE = 'gone:';
/**
 * The largest payload the gateway reads on its commands topic; commands are a few hundred bytes.
 * A larger one is refused before it is parsed (see CentralCommands.handle).
 */
export const MAX_COMMAND_BYTES = 64 * 1024;
/**
 * How the answer begins when the gateway is still serving an earlier resend: it says nothing
 * about its journal, and the range is asked for again later.
 */
export const RESEND_BUSY = 'busy:';

/**
 * What a gateway's journal holds when it answers `gone:`: its oldest number still on disk (none
 * when it holds nothing) and the highest number it ever issued. With them the central side
 * records a wide loss in one step (everything below the oldest held), and tells numbers the
 * gateway never issued from numbers it lost.
 */
export interface JournalExtent {
  oldestHeld: number | undefined;
  highestIssued: number;
}

/** The gateway's `gone:` answer to `events.resend`, naming what its journal holds. */
export function goneReason(fromSeq: number, toSeq: number, extent: JournalExtent): string {
  const holds = extent.oldestHeld === undefined ? 'none' : `from ${extent.oldestHeld}`;
  return `${RESEND_GONE} events ${fromSeq}-${toSeq} are no longer in the outbox (holds ${holds}, highest issued ${extent.highestIssued})`;
}

const EXTENT_PATTERN = /\(holds (?:none|from (\d{1,16})), highest issued (\d{1,16})\)$/;

/** The journal's extent named in a `gone:` answer; undefined for one that names none (older gateways). */
export function readGone(reason: string): JournalExtent | undefined {
  if (!reason.startsWith(RESEND_GONE)) return undefined;
  const match = EXTENT_PATTERN.exec(reason);
  if (!match) return undefined;
  const oldestHeld = match[1] === undefined ? undefined : Number(match[1]);
  const highestIssued = Number(match[2]);
  if (!Number.isSafeInteger(highestIssued) || (oldestHeld !== undefined && !Number.isSafeInteger(oldestHeld)))
    return undefined;
  return { oldestHeld, highestIssued };
}

export type CommandKind = keyof typeof commandDataSchemas;
export type CommandData<K extends CommandKind> = Static<(typeof commandDataSchemas)[K]>;
export type CommandBody = { [K in CommandKind]: { kind: K; data: CommandData<K> } }[CommandKind];

const CommandSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ pattern: UUIDV7_PATTERN }),
    kind: Type.String({ maxLength: 64 }),
    site: Id,
    gateway: Id,
    issuedAt: Type.String({ pattern: TIME_PATTERN }),
    expiresAt: Type.String({ pattern: TIME_PATTERN }),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' }),
    data: Type.Object({}),
    sig: Type.String({ pattern: SIGNATURE_PATTERN }),
  },
  strict,
);

export type Command = Omit<Static<typeof CommandSchema>, 'kind' | 'data'> & CommandBody;
export type UnsignedCommand = Omit<Command, 'sig'>;

const commandValidator = Compile(CommandSchema);
const dataValidators = new Map<string, Validator>(
  Object.entries(commandDataSchemas).map(([kind, schema]) => [kind, Compile(schema as TSchema) as Validator]),
);

/** Commands are valid for at most this long; a gateway refuses longer validity. */
export const MAX_COMMAND_VALIDITY_MS = 5 * 60_000;
export { CLOCK_SKEW_MS } from './validity.js';

function commandBytes(command: UnsignedCommand): Buffer {
  const { v, id, kind, site, gateway, issuedAt, expiresAt, nonce, data } = command;
  return Buffer.from(canonicalJson({ v, id, kind, site, gateway, issuedAt, expiresAt, nonce, data }), 'utf8');
}

export function signCommand(
  body: CommandBody,
  target: { site: string; gateway: string },
  id: string,
  nowMs: number,
  validityMs: number,
  key: KeyObject,
): Command {
  const unsigned = {
    v: 1 as const,
    id,
    ...body,
    site: target.site,
    gateway: target.gateway,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + Math.min(validityMs, MAX_COMMAND_VALIDITY_MS)).toISOString(),
    nonce: randomBytes(16).toString('base64url'),
  } as UnsignedCommand;
  return { ...unsigned, sig: signBytes(key, commandBytes(unsigned)) } as Command;
}

export type CommandRejection =
  | 'bad-json'
  | 'bad-command'
  | 'unknown-command'
  | 'bad-signature'
  | 'wrong-gateway'
  | 'expired'
  | 'not-yet-valid'
  | 'replayed'
  | 'retained';

export type CommandCheck =
  | { ok: true; command: Command }
  | { ok: false; reason: CommandRejection; detail: string; id?: string };

/** Parses and verifies a command for this gateway; says nothing yet about replay (the gateway tracks that). */
export function checkCommand(
  payload: Buffer,
  centralKeys: CentralKeys,
  self: { site: string; gateway: string },
  nowMs: number,
): CommandCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'bad-json', detail: (error as Error).message.slice(0, 200) };
  }
  if (!commandValidator.Check(parsed)) {
    return {
      ok: false,
      reason: 'bad-command',
      detail: describeSchemaErrors(commandValidator, parsed),
      ...readableCommandId(parsed),
    };
  }
  const dataValidator = dataValidators.get(parsed.kind);
  if (!dataValidator)
    return { ok: false, reason: 'unknown-command', detail: `kind ${parsed.kind}`, id: parsed.id };
  if (!dataValidator.Check(parsed.data)) {
    return {
      ok: false,
      reason: 'bad-command',
      detail: describeSchemaErrors(dataValidator, parsed.data, '/data'),
      id: parsed.id,
    };
  }
  const command = parsed as Command;
  const address = {
    expected: `${self.site}/${self.gateway}`,
    actual: `${command.site}/${command.gateway}`,
    wrong: 'wrong-gateway' as const,
  };
  return (
    checkCentralCommand(command, commandBytes(command), centralKeys, address, nowMs) ?? { ok: true, command }
  );
}

/**
 * The id of something that claims to be a command, when it has one in the right form, so that a
 * refusal can be answered under it even when the rest is unusable (an unsigned command, say).
 * Nothing vouches for it: the answer only says that a command of that id was refused.
 */
export function readableCommandId(parsed: unknown): { id?: string } {
  const id = (parsed as { id?: unknown } | null)?.id;
  return typeof id === 'string' && COMMAND_ID.test(id) ? { id } : {};
}
const COMMAND_ID = new RegExp(UUIDV7_PATTERN);

/** Why a command of the central side failed the checks that follow its schema. */
export interface CentralCommandProblem<W extends string> {
  ok: false;
  reason: 'bad-command' | 'bad-signature' | 'expired' | 'not-yet-valid' | W;
  detail: string;
  id: string;
}

/**
 * The checks every command of the central side (gateway commands, workstation lock commands)
 * passes once its schema is known, in this order: the signature over `signed` by one of the
 * trusted central keys, the address (`wrong` is the reason when it is someone else's), the
 * validity window.
 */
export function checkCentralCommand<W extends string>(
  command: { id: string; sig: string; issuedAt: string; expiresAt: string },
  signed: Buffer,
  centralKeys: CentralKeys,
  address: { expected: string; actual: string; wrong: W },
  nowMs: number,
): CentralCommandProblem<W> | undefined {
  if (!verifyByAny(centralKeys, signed, command.sig)) {
    return {
      ok: false,
      reason: 'bad-signature',
      detail: 'signature does not verify with the central key',
      id: command.id,
    };
  }
  if (address.actual !== address.expected) {
    return { ok: false, reason: address.wrong, detail: `addressed to ${address.actual}`, id: command.id };
  }
  const problem = checkValidity(command.issuedAt, command.expiresAt, nowMs, MAX_COMMAND_VALIDITY_MS);
  if (problem) {
    const reason = problem.reason === 'implausible' ? 'bad-command' : problem.reason;
    return { ok: false, reason, detail: problem.detail, id: command.id };
  }
  return undefined;
}
