import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import type { ConfigProblem } from './explain.js';
import { refine } from './refinements.js';
import { Id, Seconds, SecretRef, strict } from './schema-parts.js';

/**
 * The gateway's CCTV recorder: which cameras, how footage is cut, kept and deleted. Camera
 * credentials are secrets (a file or a variable) and never part of the URL in the file.
 */
export const CameraConfig = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    room: Type.Optional(Id),
    url: Type.String({
      pattern: '^rtsps?://[^\\s/?#@]+(/[^\\s]*)?$',
      description: 'an rtsp:// (or rtsps://) URL without credentials (use username and password)',
    }),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    password: Type.Optional(SecretRef),
    transport: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], {
      default: 'tcp',
      description: 'RTSP transport: "tcp" (interleaved, for real cameras) or "udp"',
    }),
    segmentSeconds: Type.Integer({
      minimum: 1,
      maximum: 600,
      default: 60,
      description: 'length of one recorded file; cut at the next key frame after it',
    }),
    retentionDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3650, description: 'overrides video.retentionDays' }),
    ),
    enabled: Type.Boolean({ default: true, description: 'false keeps the camera configured but idle' }),
  },
  strict,
);
export type CameraConfig = Static<typeof CameraConfig>;

export const LegalHold = Type.Object(
  {
    id: Id,
    camera: Type.Optional(Id),
    from: Type.String({ format: 'date-time', description: 'an ISO 8601 date-time' }),
    to: Type.String({ format: 'date-time', description: 'an ISO 8601 date-time' }),
    reason: Type.String({ minLength: 1, maxLength: 200 }),
  },
  strict,
);
export type LegalHold = Static<typeof LegalHold>;

const VideoSection = Type.Object(
  {
    dir: Type.Optional(
      Type.String({ minLength: 1, description: 'footage directory; default <stateDir>/video' }),
    ),
    keysDir: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'wrapped per-day data keys, apart from the footage; default <stateDir>/video-keys',
      }),
    ),
    spoolDir: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "plaintext before encryption (ffmpeg's open segments, and .work for clips and playback), best a tmpfs; default a folder on a memory file system (systemd RuntimeDirectory, $XDG_RUNTIME_DIR, /dev/shm), else <dir>/.spool",
      }),
    ),
    siteKey: Type.Optional(SecretRef),
    siteKeyDecryptOnly: Type.Optional(
      Type.Array(Type.Union(SecretRef.anyOf), {
        maxItems: 4,
        description:
          'site keys that unwrap but never wrap day keys: the previous key during a rotation; day keys are re-wrapped under siteKey at start and on SIGHUP',
      }),
    ),
    retentionDays: Type.Integer({
      minimum: 1,
      maximum: 3650,
      default: 60,
      description: 'days footage is kept',
    }),
    legalHolds: Type.Array(LegalHold, {
      default: [],
      description: 'time ranges whose footage is never deleted until the hold is removed',
    }),
    stallSeconds: Seconds(15, 2, 300),
    backoff: Type.Object(
      { initialSeconds: Seconds(1, 0.1, 60), maxSeconds: Seconds(60, 1, 3600) },
      { ...strict, default: {} },
    ),
    minFreeBytes: Type.Integer({
      minimum: 0,
      default: 2 * 1024 ** 3,
      description: 'prune footage when less than this many bytes are free',
    }),
    minFreePercent: Type.Number({
      minimum: 0,
      maximum: 50,
      default: 5,
      description: 'prune footage when less than this share of the disk is free',
    }),
    diskCheckSeconds: Seconds(60, 5, 3600),
    retentionCheckSeconds: Seconds(600, 10, 86_400),
    reconcileSeconds: Seconds(3600, 60, 86_400),
    reconcileMaxFraction: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: 'reconcile refuses to remove more than this share of the index without force',
    }),
    clip: Type.Object(
      { beforeSeconds: Seconds(10, 0, 300), afterSeconds: Seconds(20, 0, 300) },
      { ...strict, default: {} },
    ),
    cameras: Type.Array(CameraConfig, { default: [], maxItems: 64 }),
  },
  { ...strict, default: {} },
);

/**
 * A legal hold that protects nothing must not pass for one: a hold whose `to` is not after its
 * `from`, or that names a camera not in the list (a typo), is refused at load. A camera taken out
 * of service whose footage must stay held is kept in the list with `enabled: false`.
 */
export function legalHoldProblems(
  video: Pick<Static<typeof VideoSection>, 'legalHolds' | 'cameras'>,
): ConfigProblem[] {
  const cameras = video.cameras.map((c) => c.id);
  const problems: ConfigProblem[] = [];
  video.legalHolds.forEach((hold, at) => {
    if (!(Date.parse(hold.to) > Date.parse(hold.from)))
      problems.push({
        pointer: `/legalHolds/${at}/to`,
        message: `must be after from (${hold.from}), got ${hold.to}: hold ${JSON.stringify(hold.id)} would hold nothing`,
      });
    if (hold.camera !== undefined && !cameras.includes(hold.camera))
      problems.push({
        pointer: `/legalHolds/${at}/camera`,
        message: `must be the id of a camera under video.cameras (${cameras.join(', ') || 'none configured'}), got ${JSON.stringify(hold.camera)}; a camera out of service stays listed with enabled: false for its footage to be held`,
      });
  });
  return problems;
}

/**
 * Cameras the recorder could not run as written: two with one id (a copied block whose id was not
 * changed — the recorder would keep only the last and never say so), and a URL the pattern takes
 * but Node's URL parser does not (a port above 65535, a lone "["), which would otherwise stop the
 * gateway's start with a bare ERR_INVALID_URL.
 */
export function cameraProblems(video: Pick<Static<typeof VideoSection>, 'cameras'>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const firstAt = new Map<string, number>();
  video.cameras.forEach((camera, at) => {
    const first = firstAt.get(camera.id);
    if (first === undefined) firstAt.set(camera.id, at);
    else
      problems.push({
        pointer: `/cameras/${at}/id`,
        message: `must be unique, got ${JSON.stringify(camera.id)}, the id of video.cameras[${first}] too: only one of the two would be recorded`,
      });
    if (!URL.canParse(camera.url))
      problems.push({
        pointer: `/cameras/${at}/url`,
        message: `must be a URL that can be parsed (a port up to 65535, an IPv6 address in [ ]), got ${JSON.stringify(camera.url)}`,
      });
  });
  return problems;
}

export const VideoConfig = refine(VideoSection, (video) => [
  ...cameraProblems(video),
  ...legalHoldProblems(video),
]);
export type VideoConfig = Static<typeof VideoConfig>;

/** The `video` section with every default filled: no cameras. */
export function defaultVideoConfig(overrides: Partial<VideoConfig> = {}): VideoConfig {
  return { ...(Value.Default(VideoConfig, {}) as VideoConfig), ...overrides };
}
