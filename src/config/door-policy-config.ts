import Type, { type Static } from 'typebox';
import { Id, Seconds, strict } from './schema-parts.js';

/** How door decisions are made at a site: throttling, compliance, duress, clock trust, offline horizon. */
const Throttle = (maxFailures: number, windowMinutes: number, lockoutMinutes: number, what: string) =>
  Type.Object(
    {
      maxFailures: Type.Integer({ minimum: 1, maximum: 1000, default: maxFailures }),
      windowMinutes: Type.Number({ minimum: 0.1, maximum: 1440, default: windowMinutes }),
      lockoutMinutes: Type.Number({ minimum: 0.1, maximum: 1440, default: lockoutMinutes }),
    },
    { ...strict, default: {}, description: what },
  );

export const ClockSyncConfig = Type.Object(
  {
    source: Type.Union(
      [Type.Literal('timedatectl'), Type.Literal('chrony'), Type.Literal('file'), Type.Literal('none')],
      {
        default: 'timedatectl',
        description:
          'how to know the clock is synchronised: "timedatectl" (systemd NTPSynchronized), "chrony" (chronyc tracking), "file" (a status file kept fresh by an NTP hook), or "none" (not checked: demo and test rigs only)',
      },
    ),
    file: Type.Optional(Type.String({ minLength: 1, description: 'the status file, for source "file"' })),
    maxAgeSeconds: Type.Integer({
      minimum: 10,
      maximum: 86_400,
      default: 600,
      description: 'a status file older than this no longer counts',
    }),
    checkIntervalSeconds: Type.Integer({ minimum: 5, maximum: 3600, default: 60 }),
  },
  { ...strict, default: {} },
);
export type ClockSyncConfig = Static<typeof ClockSyncConfig>;

export const PolicyConfig = Type.Object(
  {
    offlineHorizonHours: Type.Number({
      minimum: 1,
      maximum: 24 * 90,
      default: 72,
      description:
        'hours after the last credential update from the central side at which the gateway stops granting',
    }),
    compliance: Type.Object(
      {
        backgroundCheckMaxDays: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 3650, description: 'omit when not required' }),
        ),
        trainingMaxDays: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 3650, description: 'omit when not required' }),
        ),
        warnDays: Type.Integer({ minimum: 0, maximum: 365, default: 30 }),
      },
      { ...strict, default: {} },
    ),
    badgeThrottle: Throttle(5, 15, 15, 'wrong codes per badge before that badge is locked out'),
    readerThrottle: Throttle(
      20,
      5,
      2,
      'failures at one reader (any badge) before it refuses all badges for a while',
    ),
    duress: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        variant: Type.Literal('last-digit-plus-one', { default: 'last-digit-plus-one' }),
      },
      { ...strict, default: {} },
    ),
    clockSync: ClockSyncConfig,
  },
  { ...strict, default: {} },
);
export type PolicyConfig = Static<typeof PolicyConfig>;

export const RoomConfig = Type.Object(
  {
    id: Id,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    antiPassback: Type.Union([Type.Literal('off'), Type.Literal('soft'), Type.Literal('hard')], {
      default: 'off',
      description:
        '"hard" denies entering twice or leaving without entering; "soft" grants and raises an alarm',
    }),
    antiPassbackResetMinutes: Type.Optional(
      Type.Number({
        minimum: 1,
        maximum: 7 * 1440,
        description: "forget a person's in/out state after this long",
      }),
    ),
    twoPersonRule: Type.Optional(
      Type.Object(
        { withinSeconds: Seconds(30, 5, 300) },
        { ...strict, description: 'entry needs two persons within the window' },
      ),
    ),
    firstPersonIn: Type.Boolean({
      default: false,
      description: 'only a person allowed to open the room may enter it while empty',
    }),
  },
  strict,
);
export type RoomConfig = Static<typeof RoomConfig>;
