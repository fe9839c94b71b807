import Type, { type Static, type TSchema } from 'typebox';
import { DIGEST_PATTERN, MAX_REPORTED_CONDITIONS } from './alarm-report.js';
import { ID_PATTERN } from './ids.js';
import { UUIDV7_PATTERN } from './uuidv7.js';
import { videoEventDataSchemas } from './video-event-kinds.js';

const Id = Type.String({ pattern: ID_PATTERN });
const BadgeId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9:_-]+$' });
const Direction = Type.Union([Type.Literal('in'), Type.Literal('out')]);
const Milliseconds = Type.Integer({ minimum: 0, maximum: 86_400_000 });
const Detail = Type.String({ maxLength: 500 });

/** Why a door said no. Every denial carries exactly one of these. */
export const DenyReason = Type.Union([
  Type.Literal('unknown-badge'),
  Type.Literal('badge-revoked'),
  Type.Literal('badge-expired'),
  Type.Literal('outside-schedule'),
  Type.Literal('wrong-code'),
  Type.Literal('code-reused'),
  Type.Literal('code-timeout'),
  Type.Literal('locked-out'),
  Type.Literal('anti-passback'),
  Type.Literal('compliance-lapsed'),
  Type.Literal('lockdown'),
  Type.Literal('clock-unsynchronised'),
  Type.Literal('two-person-rule'),
  Type.Literal('first-person-rule'),
  Type.Literal('credentials-stale'),
]);
export type DenyReason = Static<typeof DenyReason>;

/** What caused a lock to release. */
export const UnlockCause = Type.Union([
  Type.Literal('access'),
  Type.Literal('request-to-exit'),
  Type.Literal('remote'),
  Type.Literal('evacuation'),
]);
export type UnlockCause = Static<typeof UnlockCause>;

/** Conditions a gateway raises as alarms; each is identified by a stable key so it can be cleared. */
export const AlarmType = Type.Union([
  Type.Literal('door-forced'),
  Type.Literal('door-held-open'),
  Type.Literal('duress'),
  Type.Literal('badge-locked-out'),
  Type.Literal('reader-throttled'),
  Type.Literal('anti-passback'),
  Type.Literal('clock-unsynchronised'),
  Type.Literal('credentials-stale'),
  Type.Literal('device-fault'),
  Type.Literal('internal-error'),
  Type.Literal('outbox-filling'),
  /** The gateway's disk refuses the outbox's writes: events wait in memory, unpublished. */
  Type.Literal('outbox-write-failed'),
  Type.Literal('camera-down'),
  /**
   * A camera's footage cannot be stored (the day key or the encrypted file cannot be written):
   * key `video-storage-failed:<camera>`, raised at the first segment that fails, cleared by the
   * next one stored.
   */
  Type.Literal('video-storage-failed'),
  Type.Literal('video-disk-pressure'),
  Type.Literal('video-reconcile-refused'),
  Type.Literal('command-rejected'),
  Type.Literal('credentials-rejected'),
  /** The gateway uses a credential set it could not save (a full disk); a restart would lose it. */
  Type.Literal('credentials-unsaved'),
  /** The gateway's credential set has no active credential: every badge is refused. */
  Type.Literal('credentials-empty'),
  /** Video retention left deletions undone (a file, a day's folder or key); cleared by a clean run. */
  Type.Literal('video-retention-failed'),
  /** Video retention deletes nothing by age while the gateway's clock is not synchronised. */
  Type.Literal('video-retention-paused'),
  /** A footage file or its index row is not what was recorded (swapped, edited, wrong key). */
  Type.Literal('video-tampered'),
  /** Footage recorded under a wrong clock: filed under the wrong day, dated anew for retention. */
  Type.Literal('video-footage-misdated'),
  // Raised by the central side itself:
  Type.Literal('event-quarantined'),
  Type.Literal('sequence-gap'),
  /**
   * Central holds events of a gateway numbered beyond the highest number its journal issued: not
   * numbered by it (raised centrally; an incident, resolved by staff).
   */
  Type.Literal('sequence-ahead'),
  /**
   * Events lost for good: numbers a gateway could not send again when asked (raised centrally),
   * or events its outbox dropped (raised by the gateway).
   */
  Type.Literal('events-lost'),
  Type.Literal('gateway-offline'),
  /** A workstation let someone log in by the break-glass procedure while central was unreachable. */
  Type.Literal('workstation-break-glass'),
  /**
   * A lock on leave the workstation has not confirmed after several sends, or whose lock program
   * failed: someone who left may still be logged in there (raised centrally; cleared by the next
   * lock the workstation confirms).
   */
  Type.Literal('workstation-lock-failed'),
  /**
   * A workstation's lock agent stopped reporting that it runs: a lock on leave would not reach it
   * (raised centrally, a warning; cleared by its next report).
   */
  Type.Literal('workstation-agent-offline'),
  /**
   * A workstation asks for login checks faster than logins happen: its credential may be in the
   * wrong hands, flooding the audit log or probing who is present. Its checks are denied
   * (`throttled`) meanwhile (raised centrally, a warning; cleared once it is calm again).
   */
  Type.Literal('workstation-login-flood'),
  /** A lock on leave given up unconfirmed (raised centrally; an incident staff resolve). */
  Type.Literal('workstation-lock-abandoned'),
  /**
   * A gateway linked footage to another gateway's event (ignored when served or exported): it is
   * misconfigured or compromised (raised centrally when the event's footage is asked for; an
   * incident).
   */
  Type.Literal('footage-link-foreign'),
  /**
   * A gateway's credential set cannot be published (too large for a gateway): it keeps its last
   * set (raised centrally; cleared once a set for it is published again).
   */
  Type.Literal('credentials-unpublished'),
  /**
   * The central retention job left steps undone (expired data stays until a run succeeds), or
   * cannot create the coming days' event partitions (raised centrally; cleared by a run that succeeds).
   */
  Type.Literal('retention-failed'),
  /**
   * Day checkpoints are signed by a central key the dashboard's configuration neither signs with
   * nor retires for their days (keys.retiredSigning): audit verify fails on them (raised centrally
   * at a start, a warning; cleared by a start that finds none).
   */
  Type.Literal('central-key-not-retired'),
  /**
   * The audit checkpoints in the database disagree with the witness outside it
   * (`audit.witnessFile`): a witnessed checkpoint was deleted or changed, or one was slipped into
   * the past (raised centrally, critical; an incident).
   */
  Type.Literal('audit-witness-mismatch'),
  /**
   * The witness of the audit checkpoints cannot be read or written (raised centrally, a warning;
   * cleared by the next check that succeeds).
   */
  Type.Literal('audit-witness-unwritable'),
  /**
   * An administrator (or a caller of the service, not the first administrator's setup) did what
   * could hand them a `security` or `admin` account: created one, gave one that role, enabled
   * one, issued its enrolment link or reset its password or authenticator (raised centrally,
   * critical; an incident, one per change, keyed by its audit entry).
   */
  Type.Literal('staff-privilege-granted'),
]);
export type AlarmType = Static<typeof AlarmType>;

/**
 * Alarms for something that happened rather than a state that holds: a gateway raises them with
 * `AlarmBook.notify`, or once per key and run with `raise` (`internal-error`, a missing central
 * key), and never clears them. The central side lets staff resolve them without a clearing, and a
 * new occurrence while one is acknowledged makes it active again; a gateway does not carry them
 * over a restart.
 */
export const INCIDENT_ALARMS: ReadonlySet<string> = new Set<AlarmType>([
  'duress',
  'anti-passback',
  'command-rejected',
  'credentials-rejected',
  'video-reconcile-refused',
  'event-quarantined',
  'events-lost',
  'sequence-ahead',
  // A defect inside a gateway (an event its schema refuses, a door sent to its fail mode, a state
  // file it could not read): raised once per key and never cleared there, so staff resolve it
  // once it has been dealt with.
  'internal-error',
  'video-tampered',
  'video-footage-misdated',
  'workstation-lock-abandoned',
  'footage-link-foreign',
  'audit-witness-mismatch',
  'staff-privilege-granted',
]);

export const Severity = Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]);
export type Severity = Static<typeof Severity>;

export const AlarmKey = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9:_.-]+$' });
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });

const strict = { additionalProperties: false } as const;

/**
 * One schema per event kind. The map is the single place a kind is declared: the envelope
 * validator, the storage layer and the UI all read it from here.
 */
export const eventDataSchemas = {
  'access.granted': Type.Object(
    {
      door: Id,
      direction: Direction,
      person: Id,
      badge: BadgeId,
      factors: Type.Array(Type.Union([Type.Literal('badge'), Type.Literal('totp')]), {
        minItems: 1,
        maxItems: 2,
      }),
      unlockMs: Milliseconds,
      /** Two-person rule: the other person of the pair, granted with this one. */
      companion: Type.Optional(Id),
      /** Soft anti-passback: granted, though the person's last pass was the same way. */
      antiPassbackViolation: Type.Optional(Type.Literal(true)),
    },
    strict,
  ),
  'access.denied': Type.Object(
    {
      door: Id,
      direction: Direction,
      badge: BadgeId,
      person: Type.Optional(Id),
      reason: DenyReason,
      detail: Type.Optional(Detail),
    },
    strict,
  ),
  /** `durationMs` is absent when the door stays unlocked until told otherwise (evacuation, fail-safe). */
  'door.unlocked': Type.Object(
    { door: Id, cause: UnlockCause, durationMs: Type.Optional(Milliseconds) },
    strict,
  ),
  'door.locked': Type.Object({ door: Id }, strict),
  'door.opened': Type.Object({ door: Id, authorised: Type.Boolean() }, strict),
  'door.closed': Type.Object({ door: Id, openMs: Milliseconds }, strict),
  'door.forced': Type.Object({ door: Id }, strict),
  'door.held-open': Type.Object({ door: Id, openMs: Milliseconds }, strict),
  'alarm.raised': Type.Object(
    {
      alarm: AlarmType,
      key: AlarmKey,
      severity: Severity,
      /** Silent alarms (duress) are never signalled at the door. */
      silent: Type.Optional(Type.Boolean()),
      door: Type.Optional(Id),
      room: Type.Optional(Id),
      person: Type.Optional(Id),
      badge: Type.Optional(BadgeId),
      detail: Type.Optional(Detail),
    },
    strict,
  ),
  'alarm.cleared': Type.Object(
    { alarm: AlarmType, key: AlarmKey, door: Type.Optional(Id), detail: Type.Optional(Detail) },
    strict,
  ),
  /**
   * The conditions the gateway holds, answering the central side's `alarms.report` (`request`,
   * that command's id): each as its alarm type and a keyed digest of its key (alarm-report.ts).
   * All of them, or none when it holds more than a report may list (`held` says how many).
   */
  'alarm.conditions': Type.Object(
    {
      request: Type.String({ pattern: UUIDV7_PATTERN }),
      held: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
      conditions: Type.Array(
        Type.Object({ alarm: AlarmType, digest: Type.String({ pattern: DIGEST_PATTERN }) }, strict),
        { maxItems: MAX_REPORTED_CONDITIONS },
      ),
    },
    strict,
  ),
  'compliance.expiring': Type.Object(
    {
      person: Id,
      requirement: Type.Union([Type.Literal('background-check'), Type.Literal('security-training')]),
      expiresOn: Day,
      daysLeft: Type.Integer({ minimum: 0, maximum: 3650 }),
    },
    strict,
  ),
  'room.occupancy': Type.Object(
    { room: Id, occupants: Type.Integer({ minimum: 0, maximum: 100_000 }) },
    strict,
  ),
  /** Lockdown of one room, or of the whole site when `room` is absent. */
  'lockdown.changed': Type.Object({ room: Type.Optional(Id), active: Type.Boolean() }, strict),
  'evacuation.changed': Type.Object({ active: Type.Boolean() }, strict),
  /** The answer to a command from the central side. */
  'command.result': Type.Object(
    {
      command: Type.String({ pattern: '^[0-9a-f-]{36}$' }),
      kind: Type.String({ maxLength: 64 }),
      status: Type.Union([Type.Literal('ok'), Type.Literal('rejected'), Type.Literal('failed')]),
      reason: Type.Optional(Detail),
    },
    strict,
  ),
  /** The gateway applied a new credential set. */
  'credentials.updated': Type.Object(
    { version: Type.Integer({ minimum: 1 }), credentials: Type.Integer({ minimum: 0 }) },
    strict,
  ),
  /** The gateway asks for its credential set (at start, or when told to sync). */
  'credentials.requested': Type.Object({ version: Type.Integer({ minimum: 0 }) }, strict),
  'gateway.online': Type.Object(
    { version: Type.String({ maxLength: 64 }), doors: Type.Array(Id, { maxItems: 256 }) },
    strict,
  ),
  /**
   * Sent periodically: the gateway is alive, and any events lost after its last stored one show up
   * as a gap below this event's sequence number (so the central side asks for them again).
   */
  'gateway.heartbeat': Type.Object(
    {
      uptimeS: Type.Integer({ minimum: 0 }),
      outboxPending: Type.Integer({ minimum: 0 }),
      credentialsVersion: Type.Integer({ minimum: 0 }),
    },
    strict,
  ),
  'gateway.offline': Type.Object(
    { reason: Type.Union([Type.Literal('shutdown'), Type.Literal('restart')]) },
    strict,
  ),
  ...videoEventDataSchemas,
} satisfies Record<string, TSchema>;

export type EventKind = keyof typeof eventDataSchemas;
export type EventData<K extends EventKind> = Static<(typeof eventDataSchemas)[K]>;

/** A kind and its data, typed together; what controllers emit before the envelope is added. */
export type EventBody = { [K in EventKind]: { kind: K; data: EventData<K> } }[EventKind];

export const eventKinds = Object.keys(eventDataSchemas) as EventKind[];

export function isEventKind(value: string): value is EventKind {
  return Object.hasOwn(eventDataSchemas, value);
}
