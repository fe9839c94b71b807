import Type, { type Static } from 'typebox';
import { PolicyConfig, RoomConfig } from './door-policy-config.js';
import { DoorsConfig, TotpConfig } from './gateway-config.js';
import { Host, Id, Port, strict } from './schema-parts.js';

/** `identgate demo`: broker, database, one gateway and the dashboard in one process. */
export const DemoConfig = Type.Object(
  {
    kind: Type.Literal('demo'),
    stateDir: Type.String({ minLength: 1, default: '.identgate' }),
    site: Id,
    broker: Type.Object(
      { host: Host(), port: Port(1883) },
      {
        ...strict,
        default: {},
        description: 'the embedded MQTT broker; the next free port is used when taken',
      },
    ),
    database: Type.Object(
      { port: Port(5433) },
      {
        ...strict,
        default: {},
        description: 'the embedded PostgreSQL; the next free port is used when taken',
      },
    ),
    dashboard: Type.Object({ host: Host(), port: Port(8080) }, { ...strict, default: {} }),
    gateway: Type.Object(
      {
        id: Id,
        totp: TotpConfig,
        policy: PolicyConfig,
        rooms: Type.Array(RoomConfig, { default: [], maxItems: 64 }),
        doors: DoorsConfig,
      },
      strict,
    ),
    camera: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'record one synthetic camera (needs ffmpeg)' }),
        segmentSeconds: Type.Integer({ minimum: 2, maximum: 600, default: 10 }),
      },
      { ...strict, default: {} },
    ),
    agent: Type.Object(
      {
        id: Id,
        name: Type.String({ minLength: 1, maxLength: 120 }),
        badge: Type.String({ pattern: '^[A-Za-z0-9:_-]{1,64}$' }),
      },
      strict,
    ),
  },
  strict,
);
export type DemoConfig = Static<typeof DemoConfig>;
