import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { WORKSTATION_ID_PATTERN } from '../protocol/ids.js';
import { PUBLIC_KEY_PATTERN } from '../protocol/signing.js';
import { AlsoTrustedCentralKeys, Id, MqttConnection, SecretRef, strict } from './schema-parts.js';

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
    lockResultSeconds: Type.Integer({
      minimum: 5,
      maximum: 600,
      default: 20,
      description:
        "a lock on leave the workstation's agent has not confirmed this long after it was sent is sent again; each further wait is twice the one before, at most 15 minutes",
    }),
    lockAttempts: Type.Integer({
      minimum: 1,
      maximum: 20,
      default: 3,
      description:
        'after this many sends of a lock without a confirmation, a critical workstation-lock-failed alarm is raised (the sends go on)',
    }),
    agentSilenceSeconds: Type.Integer({
      minimum: 120,
      maximum: 86_400,
      default: 300,
      description:
        'a workstation whose lock agent has not reported for this long (agents report every minute) gets a workstation-agent-offline warning: a lock on leave would not reach it',
    }),
    loginCheckBurst: Type.Integer({
      minimum: 5,
      maximum: 1000,
      default: 20,
      description:
        'login checks a workstation may make at once before it is throttled (a password login makes two); beyond it, and beyond one per loginCheckIntervalSeconds, its checks are denied as throttled and a workstation-login-flood warning is raised',
    }),
    loginCheckIntervalSeconds: Type.Number({
      minimum: 0.1,
      maximum: 60,
      default: 2,
      description:
        'once its burst is spent, a workstation may make one more login check per this many seconds; it is calm again, and its warning cleared, after loginCheckBurst times this long without a throttled check',
    }),
    lockRetryHours: Type.Number({
      minimum: 0.5,
      maximum: 24,
      default: 8,
      description:
        'a lock still unconfirmed this long after the person left is given up (audited; the alarm stays)',
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

/** The workstation's own configuration (/etc/identgate/workstation.yaml): the login check client and agent. */
export const WorkstationClientConfig = Type.Object(
  {
    kind: Type.Literal('workstation'),
    id: Type.String({
      pattern: WORKSTATION_ID_PATTERN,
      description: 'this workstation as registered centrally (its host name)',
    }),
    url: Type.String({
      pattern: '^https?://[^\\s/?#@]+(:\\d+)?/?$',
      description: 'the dashboard base URL; http:// only to a loopback address',
    }),
    token: Type.Optional(
      Type.Union(SecretRef.anyOf, {
        description:
          'the workstation token from `identgate workstation register`: { file: … } (mode 0600) or { env: … }; without it IDENTGATE_WORKSTATION_TOKEN',
      }),
    ),
    ca: Type.Optional(
      Type.String({
        minLength: 1,
        description: "a PEM file of the CA the dashboard's certificate chains to",
      }),
    ),
    timeoutSeconds: Type.Number({
      minimum: 0.2,
      maximum: 30,
      default: 3,
      description: 'a login check without an answer after this long counts as central unreachable',
    }),
    graceSeconds: Type.Integer({
      minimum: 0,
      maximum: 3600,
      default: 120,
      description:
        'while central is unreachable, a user allowed by central within this many seconds is still allowed; after it, login is denied (fail closed)',
    }),
    stateDir: Type.String({
      minLength: 1,
      default: '/var/lib/identgate-workstation',
      description:
        'where the last confirmed checks, break-glass grants, pending reports and the lock commands already run are kept (root only)',
    }),
    retentionDays: Type.Integer({
      minimum: 1,
      maximum: 3650,
      default: 60,
      description:
        "days the break-glass journal's lines and undelivered break-glass reports are kept on the workstation, then deleted (an undelivered one with an error logged); mirrors the central presence class: keep both equal for the workstation's site",
    }),
    syslogProgram: Type.String({
      pattern: '^/[^\\s]*$',
      default: '/usr/bin/logger',
      description:
        "util-linux's logger, by its absolute path: a login check run by PAM hands it its verdict and log lines (the system log)",
    }),
    agent: Type.Optional(
      Type.Object(
        {
          site: Id,
          mqtt: MqttConnection(),
          centralPublicKey: Type.String({
            pattern: PUBLIC_KEY_PATTERN,
            description: 'the central signing key (ed25519:…) that lock commands must verify against',
          }),
          alsoTrustedCentralKeys: AlsoTrustedCentralKeys('centralPublicKey'),
          lockCommand: Type.Array(Type.String({ minLength: 1 }), {
            minItems: 1,
            maxItems: 32,
            default: ['loginctl', 'lock-sessions'],
            description:
              'the program and arguments run to lock (no shell); the agent runs as a system service, so the default locks every session',
          }),
          lockTimeoutSeconds: Type.Number({ minimum: 1, maximum: 120, default: 10 }),
          lateLockHours: Type.Number({
            minimum: 0,
            maximum: 24,
            default: 8,
            description:
              'a lock command received after its expiry (the agent was offline) is still run when central issued it at most this many hours ago; 0: never',
          }),
        },
        { ...strict, description: 'the lock-on-leave agent (`identgate workstation agent`)' },
      ),
    ),
    breakGlass: Type.Optional(
      Type.Object(
        {
          codeSha256: Type.String({
            pattern: '^[0-9a-f]{64}$',
            description:
              'SHA-256 (hex) of the emergency code kept in a sealed envelope; without it break-glass is off',
          }),
          minutes: Type.Integer({
            minimum: 1,
            maximum: 480,
            default: 60,
            description: 'how long a break-glass grant lets its user log in while central is unreachable',
          }),
        },
        strict,
      ),
    ),
  },
  strict,
);
export type WorkstationClientConfig = Static<typeof WorkstationClientConfig>;
