import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { strict } from './schema-parts.js';

/** The dashboard's side of workstation login: how long presence lasts and what compliance it needs. */
export const WorkstationsConfig = Type.Object(
  {
    leaseHours: Type.Number({
      minimum: 0.25,
      maximum: 24,
      default: 8,
      description:
        'presence in a room lapses this many hours after the last badge event that confirmed it (one shift); a lapsed presence denies workstation login until the next badge event',
    }),
    backgroundCheckMaxDays: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3650,
        description: 'deny workstation login when the background check is older than this',
      }),
    ),
    trainingMaxDays: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 3650,
        description: 'deny workstation login when the security training is older than this',
      }),
    ),
    refreshSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 30,
      description: 'how often workstations, door rooms, people and revoked badges are re-read into memory',
    }),
  },
  { ...strict, default: {} },
);
export type WorkstationsConfig = Static<typeof WorkstationsConfig>;

export function workstationSettings(config: {
  workstations?: Partial<WorkstationsConfig> | undefined;
}): WorkstationsConfig {
  return Value.Default(WorkstationsConfig, { ...config.workstations }) as WorkstationsConfig;
}
