import Type, { type Static, type TSchema } from 'typebox';
import { ID_PATTERN } from './ids.js';

const Id = Type.String({ pattern: ID_PATTERN });
const Time = Type.String({ format: 'date-time', maxLength: 40 });
const Bytes = Type.Integer({ minimum: 0 });
const Count = Type.Integer({ minimum: 0 });
const Detail = Type.String({ maxLength: 500 });
const Day = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' });
/** `<camera>/<day>/<file>`: where a piece of footage lives under the gateway's video directory. */
const FootageId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}/\\d{4}-\\d{2}-\\d{2}/[A-Za-z0-9._-]{1,128}$',
});
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const KeyId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}/\\d{4}-\\d{2}-\\d{2}$' });

const strict = { additionalProperties: false } as const;

/** A linked snapshot or clip: its id on the gateway and the SHA-256 of its decrypted bytes. */
export const FootageRef = Type.Object(
  { id: FootageId, sha256: Sha256, bytes: Bytes, keyId: KeyId, mime: Type.String({ maxLength: 40 }) },
  strict,
);
export type FootageRef = Static<typeof FootageRef>;

export const CameraDownReason = Type.Union([
  Type.Literal('exit'),
  Type.Literal('stall'),
  Type.Literal('spawn-failed'),
]);
export type CameraDownReason = Static<typeof CameraDownReason>;

/**
 * The recorder's event kinds, in the style of `eventDataSchemas`; merged into the protocol by
 * the gateway. `camera.down`, `video.segment-rejected`, `video.disk-pressure`,
 * `video.reconcile-refused`, `video.retention-failed`, `video.retention-paused`, `video.tampered`
 * and `video.footage-misdated` are alarms.
 */
export const videoEventDataSchemas = {
  'camera.up': Type.Object(
    { camera: Id, downMs: Type.Optional(Type.Integer({ minimum: 0 })), restarts: Count },
    strict,
  ),
  'camera.down': Type.Object(
    {
      camera: Id,
      reason: CameraDownReason,
      detail: Type.Optional(Detail),
      retryInMs: Type.Integer({ minimum: 0 }),
    },
    strict,
  ),
  'video.segment': Type.Object(
    { id: FootageId, camera: Id, start: Time, end: Time, bytes: Bytes, keyId: KeyId },
    strict,
  ),
  'video.segment-rejected': Type.Object(
    { camera: Id, file: Type.String({ maxLength: 200 }), detail: Detail },
    strict,
  ),
  'video.pruned': Type.Object(
    {
      camera: Id,
      day: Day,
      reason: Type.Union([
        Type.Literal('retention'),
        Type.Literal('disk-pressure'),
        Type.Literal('reconcile'),
      ]),
      segments: Count,
      bytes: Bytes,
      keyDeleted: Type.Boolean(),
    },
    strict,
  ),
  'video.disk-pressure': Type.Object(
    {
      freeBytes: Bytes,
      totalBytes: Bytes,
      thresholdBytes: Bytes,
      freedBytes: Bytes,
      deletedFiles: Count,
      deletedLinked: Count,
      resolved: Type.Boolean(),
    },
    strict,
  ),
  'video.reconcile-refused': Type.Object(
    { orphanFiles: Count, missingFiles: Count, indexedFiles: Count, maxFraction: Type.Number() },
    strict,
  ),
  'video.footage-linked': Type.Object(
    {
      event: Type.String({ minLength: 1, maxLength: 64 }),
      camera: Id,
      from: Time,
      to: Time,
      snapshot: Type.Optional(FootageRef),
      clip: Type.Optional(FootageRef),
      missing: Type.Optional(Detail),
    },
    strict,
  ),
  /**
   * A retention run left deletions undone (each file, day folder and key is tried on its own, and
   * tried again at the next run); `resolved` when a run after failing ones did everything due.
   */
  'video.retention-failed': Type.Object(
    {
      failed: Count,
      failures: Type.Array(
        Type.Object(
          {
            camera: Type.Optional(Id),
            day: Type.Optional(Day),
            step: Type.Union([
              Type.Literal('file'),
              Type.Literal('folder'),
              Type.Literal('key'),
              Type.Literal('date'),
              Type.Literal('plan'),
            ]),
            detail: Detail,
          },
          strict,
        ),
        { maxItems: 10 },
      ),
      resolved: Type.Boolean(),
    },
    strict,
  ),
  /** Retention deletes nothing by age while the clock is not synchronised; `resolved` once it runs again. */
  'video.retention-paused': Type.Object(
    { reason: Type.Literal('clock-unsynchronised'), resolved: Type.Boolean() },
    strict,
  ),
  /** A footage file or its index row failed a check when it was read (playback, clip, snapshot). */
  'video.tampered': Type.Object(
    { camera: Id, day: Day, file: Type.String({ maxLength: 200 }), detail: Detail },
    strict,
  ),
  /**
   * Footage recorded while the clock was not synchronised, filed under `day` by that clock, was
   * dated anew for retention: from the gateway's uptime (`uptime`, its true time) or, recorded
   * before the last restart, from when it was found (`first-seen`, so kept at least as long as due).
   */
  'video.footage-misdated': Type.Object(
    {
      camera: Id,
      day: Day,
      files: Count,
      basis: Type.Union([Type.Literal('uptime'), Type.Literal('first-seen')]),
      from: Time,
      to: Time,
    },
    strict,
  ),
} satisfies Record<string, TSchema>;

export type VideoEventKind = keyof typeof videoEventDataSchemas;
export type VideoEventData<K extends VideoEventKind> = Static<(typeof videoEventDataSchemas)[K]>;

/** How the recorder hands events to the gateway, which signs and sends them. */
export type VideoEmit = <K extends VideoEventKind>(kind: K, data: VideoEventData<K>) => void;

export const videoEventKinds = Object.keys(videoEventDataSchemas) as VideoEventKind[];
