import Type, { type Static } from 'typebox';

/** HTTP payload schemas; the TypeScript types come from them. */
export const StoredEventSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  ingestNo: Type.Integer(),
  kind: Type.String(),
  site: Type.String(),
  gateway: Type.String(),
  seq: Type.Integer(),
  occurredAt: Type.String({ format: 'date-time' }),
  receivedAt: Type.String({ format: 'date-time' }),
  door: Type.Union([Type.String(), Type.Null()]),
  person: Type.Union([Type.String(), Type.Null()]),
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const ErrorSchema = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String(),
});

/**
 * A row id or page cursor (a bigint in the database) as a request names it: bounded to the numbers
 * JavaScript holds exactly, so that a larger one is refused with 400 instead of failing in the query.
 */
export const RowId = (minimum = 1) => Type.Integer({ minimum, maximum: Number.MAX_SAFE_INTEGER });

const Time = Type.String({ format: 'date-time' });
const NullableText = Type.Union([Type.String(), Type.Null()]);
const NullableTime = Type.Union([Time, Type.Null()]);

/**
 * An alarm as staff see it: the condition, where, how often, and who acknowledged and resolved it
 * with what comment. The condition's key is not shown (a lock-out's key names a badge).
 */
export const AlarmViewSchema = Type.Object({
  id: Type.Integer(),
  source: Type.Union([Type.Literal('gateway'), Type.Literal('central')]),
  site: NullableText,
  gateway: NullableText,
  door: NullableText,
  alarm: Type.String(),
  severity: Type.Union([Type.Literal('critical'), Type.Literal('warning'), Type.Literal('info')]),
  detail: NullableText,
  occurrences: Type.Integer(),
  state: Type.Union([Type.Literal('active'), Type.Literal('acknowledged'), Type.Literal('resolved')]),
  raisedAt: Time,
  lastSeenAt: Time,
  clearedAt: NullableTime,
  /** How the condition ended, where that was said: the clearing's detail, or the gateway's report. */
  clearedDetail: NullableText,
  acknowledgedAt: NullableTime,
  acknowledgedBy: NullableText,
  ackComment: NullableText,
  resolvedAt: NullableTime,
  resolvedBy: NullableText,
  resolveComment: NullableText,
});
export type AlarmView = Static<typeof AlarmViewSchema>;

const OverviewDoorSchema = Type.Object({
  site: Type.String(),
  /** Null for a door only the directory knows: no gateway has reported it yet. */
  gateway: Type.Union([Type.String(), Type.Null()]),
  door: Type.String(),
  name: Type.String(),
  room: NullableText,
  lock: Type.Union([Type.Literal('locked'), Type.Literal('unlocked'), Type.Literal('unknown')]),
  contact: Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('unknown')]),
  alarm: Type.Union([Type.Literal('forced'), Type.Literal('held-open'), Type.Null()]),
  gatewayOnline: Type.Boolean(),
  changedAt: NullableTime,
});

const OverviewRoomSchema = Type.Object({
  site: Type.String(),
  room: Type.String(),
  name: Type.String(),
  occupants: Type.Union([Type.Integer(), Type.Null()]),
  /** `roomLockdown || siteLockdown`: whether entry to the room is refused for a lockdown. */
  lockdown: Type.Boolean(),
  /** A lockdown of this room on its own; it ends with a lockdown request that names the room. */
  roomLockdown: Type.Boolean(),
  /** A lockdown of the whole site; it ends only with a request without a room. */
  siteLockdown: Type.Boolean(),
  evacuation: Type.Boolean(),
  updatedAt: NullableTime,
});

/** What is in force for a site as a whole, whether or not the dashboard knows any of its rooms. */
const OverviewSiteSchema = Type.Object({
  site: Type.String(),
  lockdown: Type.Boolean(),
  /** The site's gateways that still report the site lockdown in force. */
  lockdownGateways: Type.Array(Type.String()),
  evacuation: Type.Boolean(),
  /** The site's gateways that still report the evacuation in force (it releases every door). */
  evacuationGateways: Type.Array(Type.String()),
  /** The newest lockdown or evacuation report of any of its gateways. */
  changedAt: NullableTime,
});

const OverviewGatewaySchema = Type.Object({
  site: Type.String(),
  gateway: Type.String(),
  online: Type.Boolean(),
  lastSeenAt: NullableTime,
});

const OverviewCameraSchema = Type.Object({
  site: Type.String(),
  gateway: Type.Union([Type.String(), Type.Null()]),
  camera: Type.String(),
  state: Type.Union([Type.Literal('recording'), Type.Literal('down'), Type.Literal('unknown')]),
  changedAt: NullableTime,
  detail: NullableText,
});

/** What the live page starts from; `lastIngestNo` says which stream events are newer than it. */
export const OverviewSchema = Type.Object({
  doors: Type.Array(OverviewDoorSchema),
  rooms: Type.Array(OverviewRoomSchema),
  sites: Type.Array(OverviewSiteSchema),
  gateways: Type.Array(OverviewGatewaySchema),
  cameras: Type.Array(OverviewCameraSchema),
  lastIngestNo: Type.Integer(),
});
export type Overview = Static<typeof OverviewSchema>;
export type OverviewDoor = Static<typeof OverviewDoorSchema>;
export type OverviewRoom = Static<typeof OverviewRoomSchema>;
export type OverviewSite = Static<typeof OverviewSiteSchema>;
export type OverviewCamera = Static<typeof OverviewCameraSchema>;
