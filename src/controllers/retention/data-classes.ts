import Type, { type Static } from 'typebox';

/**
 * The classes of personal data the central side keeps, each with its own retention. This is the
 * one place a class is declared: the policies, the retention job, the CLI and the docs read it.
 * A later feature (exports, presence) plugs in by registering a store for its class.
 */
export const DataClass = Type.Union(
  [
    Type.Literal('access-events'),
    Type.Literal('video'),
    Type.Literal('alarms'),
    Type.Literal('quarantine'),
    Type.Literal('audit-exports'),
    Type.Literal('presence'),
    Type.Literal('erasure-tombstones'),
  ],
  { description: 'a class of personal data with its own retention' },
);
export type DataClass = Static<typeof DataClass>;

export const PolicyScope = Type.Union([
  Type.Literal('global'),
  Type.Literal('customer'),
  Type.Literal('site'),
]);
export type PolicyScope = Static<typeof PolicyScope>;

export interface DataClassDefinition {
  /** What the class holds, in one line. */
  description: string;
  /**
   * Scopes a policy may have; data without a trustworthy site can only have a global one, and a
   * class whose period follows from others' takes none.
   */
  scopes: readonly PolicyScope[];
  /** Deleted by the retention job itself, or by a store registered for the class. */
  deleter: 'built-in' | 'registered';
}

const ALL_SCOPES: readonly PolicyScope[] = ['global', 'customer', 'site'];

export const DATA_CLASSES: Readonly<Record<DataClass, DataClassDefinition>> = {
  'access-events': {
    description:
      'rows of `events` except video.* and camera.* (access, door, alarm, room, credentials, command, gateway, compliance), with their event_sequences rows',
    scopes: ALL_SCOPES,
    deleter: 'built-in',
  },
  video: {
    description:
      'rows of `events` of kinds video.* and camera.*: the footage index and the links to snapshots and clips kept on the gateways',
    scopes: ALL_SCOPES,
    deleter: 'built-in',
  },
  alarms: {
    description: 'rows of `alarms` with their acknowledgements, by their last activity, in any state',
    scopes: ALL_SCOPES,
    deleter: 'built-in',
  },
  quarantine: {
    description: 'rows of `quarantine`: raw payloads that failed validation, by received_at',
    scopes: ['global'],
    deleter: 'built-in',
  },
  'audit-exports': {
    description:
      "auditors' export files: not stored centrally (downloaded or written where the operator says)",
    scopes: ALL_SCOPES,
    deleter: 'registered',
  },
  presence: {
    description:
      'presence: the user named in workstation audit entries (login checks, break-glass, locks), replaced by "expired", and workstation sessions (who a workstation let log in), deleted',
    scopes: ALL_SCOPES,
    deleter: 'registered',
  },
  'erasure-tombstones': {
    description:
      "keyed hashes of erased people's ids and badges: kept for the longest events retention in force plus 90 days after the erasure, and while a legal hold could let their events in (no policy of its own)",
    scopes: [],
    deleter: 'registered',
  },
};

export const DATA_CLASS_NAMES = Object.keys(DATA_CLASSES) as DataClass[];

export function isDataClass(name: string): name is DataClass {
  return Object.hasOwn(DATA_CLASSES, name);
}

/**
 * Rows of `events` fall into three groups. A footage link (`video.footage-linked`) belongs to the
 * video class but is dependent data of the access event it links: it goes when either class
 * expires, so footage references never outlive the event they show.
 */
export type EventGroup = 'access' | 'video' | 'footage-link';

export const VIDEO_KIND_PREFIXES = ['video.', 'camera.'] as const;
export const FOOTAGE_LINK_KIND = 'video.footage-linked';

export function eventGroupOf(kind: string): EventGroup {
  if (kind === FOOTAGE_LINK_KIND) return 'footage-link';
  return VIDEO_KIND_PREFIXES.some((prefix) => kind.startsWith(prefix)) ? 'video' : 'access';
}

export function classOfEventGroup(group: EventGroup): 'access-events' | 'video' {
  return group === 'access' ? 'access-events' : 'video';
}
