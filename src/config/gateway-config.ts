import Type, { type Static } from 'typebox';
import { PUBLIC_KEY_PATTERN } from '../protocol/signing.js';
import { DoorDevicesConfig } from './device-config.js';
import { PolicyConfig, RoomConfig } from './door-policy-config.js';
import type { ConfigProblem } from './explain.js';
import { refine } from './refinements.js';
import { AlsoTrustedCentralKeys, Id, MqttConnection, Seconds, SecretRef, strict } from './schema-parts.js';
import { sharedHidDeviceProblems } from './shared-hid-devices.js';
import { VideoConfig } from './video-config.js';

export const DoorConfig = Type.Object(
  {
    id: Type.String({ ...Id, description: "an id, unique among the gateway's doors" }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    room: Id,
    unlockSeconds: Seconds(5, 1, 120),
    codeTimeoutSeconds: Seconds(20, 5, 120),
    heldOpenSeconds: Seconds(30, 5, 3600),
    failMode: Type.Union([Type.Literal('secure'), Type.Literal('safe')], {
      default: 'secure',
      description:
        '"secure" keeps the door locked without power or on error; "safe" releases it, for escape routes',
    }),
    exitRequiresCode: Type.Boolean({
      default: false,
      description: 'whether the exit reader also asks for the TOTP code',
    }),
    devices: DoorDevicesConfig,
  },
  strict,
);
export type DoorConfig = Static<typeof DoorConfig>;

/**
 * Two doors with one id: a copied block whose id was not changed. The second would share the
 * first's state, events and commands, and drive devices under the other's name.
 */
export function duplicateDoorProblems(doors: ReadonlyArray<{ id: string }>): ConfigProblem[] {
  const firstAt = new Map<string, number>();
  return doors.flatMap((door, at) => {
    const first = firstAt.get(door.id);
    if (first === undefined) {
      firstAt.set(door.id, at);
      return [];
    }
    return [
      {
        pointer: `/${at}/id`,
        message: `must be unique, got ${JSON.stringify(door.id)}, the id of doors[${first}] too`,
      },
    ];
  });
}

/** A gateway's doors: each id once, and no two of their readers and keypads select one USB device. */
export const DoorsConfig = refine(Type.Array(DoorConfig, { minItems: 1, maxItems: 64 }), (doors) => [
  ...duplicateDoorProblems(doors),
  ...sharedHidDeviceProblems(doors),
]);

export const TotpConfig = Type.Object(
  {
    digits: Type.Union([Type.Literal(6), Type.Literal(8)], { default: 6 }),
    periodSeconds: Type.Integer({ minimum: 15, maximum: 120, default: 30 }),
    algorithm: Type.Union([Type.Literal('sha1'), Type.Literal('sha256'), Type.Literal('sha512')], {
      default: 'sha1',
    }),
    driftSteps: Type.Integer({
      minimum: 0,
      maximum: 1,
      default: 1,
      description: 'accepted clock drift in time steps (0 or 1)',
    }),
  },
  { ...strict, default: {} },
);
export type TotpConfig = Static<typeof TotpConfig>;

const CentralSection = Type.Object(
  {
    publicKey: Type.Optional(
      Type.String({
        pattern: PUBLIC_KEY_PATTERN,
        description:
          'the central key (ed25519:…) that signs commands and credential sets; without it both are refused',
      }),
    ),
    alsoTrustedKeys: AlsoTrustedCentralKeys('publicKey'),
  },
  { ...strict, default: {} },
);

/** Keys trusted besides publicKey, never instead of it: a half-done rotation is refused at load. */
export const CentralConfig = refine(CentralSection, (central) =>
  (central.alsoTrustedKeys ?? []).length > 0 && central.publicKey === undefined
    ? [
        {
          pointer: '/alsoTrustedKeys',
          message:
            'needs central.publicKey: these keys are trusted besides it, not instead of it; set publicKey to the key the dashboards sign with now',
        },
      ]
    : [],
);
export type CentralConfig = Static<typeof CentralConfig>;

export const GatewayConfig = Type.Object(
  {
    kind: Type.Literal('gateway'),
    site: Id,
    id: Id,
    stateDir: Type.String({
      minLength: 1,
      default: '/var/lib/identgate',
      description: 'a directory for keys, outbox and caches',
    }),
    mqtt: MqttConnection(),
    totp: TotpConfig,
    credentialKey: Type.Optional(
      Type.Union(SecretRef.anyOf, {
        description:
          "the gateway's state key (32 bytes, base64) sealing its private keys and credential cache; default a key file in stateDir",
      }),
    ),
    credentialKeyDecryptOnly: Type.Optional(
      Type.Array(Type.Union(SecretRef.anyOf), {
        maxItems: 4,
        description:
          'state keys that open but never seal: the previous key during a rotation; the gateway re-seals its files under credentialKey at start and on SIGHUP',
      }),
    ),
    central: CentralConfig,
    heartbeatSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 60,
      description: 'how often the gateway reports that it is alive; lost events are noticed within this time',
    }),
    alarmSettleSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 60,
      description:
        'how long after a restart an alarm condition raised before it, such as a camera down or a device fault, may take to be observed again; one that is not is then cleared',
    }),
    simControl: Type.Boolean({
      default: false,
      description: 'serve a local socket for `identgate sim` (simulated devices only)',
    }),
    policy: PolicyConfig,
    rooms: Type.Array(RoomConfig, {
      default: [],
      maxItems: 64,
      description: "room rules; a door's room not listed here has none",
    }),
    doors: DoorsConfig,
    video: VideoConfig,
  },
  strict,
);
export type GatewayConfig = Static<typeof GatewayConfig>;
