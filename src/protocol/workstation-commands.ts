import { type KeyObject, randomBytes } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { canonicalJson } from './canonical.js';
import { checkCentralCommand, MAX_COMMAND_VALIDITY_MS } from './commands.js';
import { describeSchemaErrors, TIME_PATTERN } from './envelope.js';
import { ID_PATTERN, isId, isWorkstationId, WORKSTATION_ID_PATTERN } from './ids.js';
import { type CentralKeys, SIGNATURE_PATTERN, signBytes } from './signing.js';
import { TOPIC_ROOT } from './topics.js';
import { UUIDV7_PATTERN } from './uuidv7.js';

/**
 * Lock on leave: when a person's presence ends, the central side tells each workstation that let
 * them log in to lock its sessions. Signed with the central key like gateway commands, short-lived,
 * with a nonce; a workstation agent runs each at most once. Workstation ids are host names (dots
 * allowed), hence a topic and schema of their own beside the gateway commands.
 */
export { WORKSTATION_ID_PATTERN };

export function workstationCommandTopic(site: string, workstation: string): string {
  if (!isId(site)) throw new Error(`invalid site id ${JSON.stringify(site)} for an MQTT topic`);
  if (!isWorkstationId(workstation))
    throw new Error(`invalid workstation id ${JSON.stringify(workstation)} for an MQTT topic`);
  return `${TOPIC_ROOT}/${site}/workstations/${workstation}/commands`;
}

export const LockReason = Type.Union([
  Type.Literal('exit'),
  Type.Literal('seen-outside'),
  Type.Literal('moved'),
  Type.Literal('lease-expired'),
  Type.Literal('badge-revoked'),
  Type.Literal('lockdown'),
  Type.Literal('evacuation'),
]);

const WorkstationCommandSchema = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ pattern: UUIDV7_PATTERN }),
    kind: Type.Literal('session.lock'),
    site: Type.String({ pattern: ID_PATTERN }),
    workstation: Type.String({ pattern: WORKSTATION_ID_PATTERN }),
    issuedAt: Type.String({ pattern: TIME_PATTERN }),
    expiresAt: Type.String({ pattern: TIME_PATTERN }),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' }),
    data: Type.Object(
      { user: Type.String({ pattern: ID_PATTERN }), reason: LockReason },
      { additionalProperties: false },
    ),
    sig: Type.String({ pattern: SIGNATURE_PATTERN }),
  },
  { additionalProperties: false },
);
export type WorkstationCommand = Static<typeof WorkstationCommandSchema>;
const validator = Compile(WorkstationCommandSchema);

function bytes(command: Omit<WorkstationCommand, 'sig'>): Buffer {
  const { v, id, kind, site, workstation, issuedAt, expiresAt, nonce, data } = command;
  return Buffer.from(
    canonicalJson({ v, id, kind, site, workstation, issuedAt, expiresAt, nonce, data }),
    'utf8',
  );
}

export function signLockCommand(
  target: { site: string; workstation: string },
  data: WorkstationCommand['data'],
  id: string,
  nowMs: number,
  validityMs: number,
  key: KeyObject,
): WorkstationCommand {
  const unsigned = {
    v: 1 as const,
    id,
    kind: 'session.lock' as const,
    site: target.site,
    workstation: target.workstation,
    issuedAt: new Date(nowMs).toISOString(),
    expiresAt: new Date(nowMs + Math.min(validityMs, MAX_COMMAND_VALIDITY_MS)).toISOString(),
    nonce: randomBytes(16).toString('base64url'),
    data,
  };
  return { ...unsigned, sig: signBytes(key, bytes(unsigned)) };
}

export type LockCommandCheck =
  /** `late`: past its expiry, but issued within `lateMs` (accepted: locking is the safe direction). */
  | { ok: true; command: WorkstationCommand; late: boolean }
  | {
      ok: false;
      reason: 'bad-command' | 'bad-signature' | 'wrong-workstation' | 'expired' | 'not-yet-valid';
      detail: string;
      id?: string;
    };

/** The name a lock command carries for a person who was erased (the lock names nobody). */
export const ERASED_LOCK_USER = 'erased';

/**
 * Checks a lock command like any central command (signature, address, validity). With `lateMs`,
 * a command that passed every other check but has expired is still accepted, marked `late`, when
 * it was issued no more than `lateMs` ago by this clock: an agent that was offline gets its locks
 * after their minute is up, and a lock run late is better than a workstation left unlocked.
 */
export function checkLockCommand(
  payload: Buffer,
  centralKeys: CentralKeys,
  self: { site: string; workstation: string },
  nowMs: number,
  options: { lateMs?: number } = {},
): LockCommandCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'bad-command', detail: (error as Error).message.slice(0, 200) };
  }
  if (!validator.Check(parsed))
    return { ok: false, reason: 'bad-command', detail: describeSchemaErrors(validator, parsed) };
  const command = parsed;
  const address = {
    expected: `${self.site}/${self.workstation}`,
    actual: `${command.site}/${command.workstation}`,
    wrong: 'wrong-workstation' as const,
  };
  const problem = checkCentralCommand(command, bytes(command), centralKeys, address, nowMs);
  if (!problem) return { ok: true, command, late: false };
  // `expired` comes only after the signature, the address and a plausible window have passed.
  const lateMs = options.lateMs ?? 0;
  if (problem.reason === 'expired' && lateMs > 0 && nowMs - Date.parse(command.issuedAt) <= lateMs)
    return { ok: true, command, late: true };
  return problem;
}
