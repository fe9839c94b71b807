import Type, { type Static } from 'typebox';
import Value from 'typebox/value';
import { PUBLIC_KEY_PATTERN } from '../protocol/signing.js';
import type { ConfigProblem } from './explain.js';
import { refine } from './refinements.js';
import { Host, Id, MqttConnection, Port, SecretRef, strict, TlsServerConfig } from './schema-parts.js';
import { TrustedProxies, trustedProxyProblems } from './trusted-proxies.js';
import { WorkstationsConfig } from './workstation-config.js';

export const HttpConfig = refine(
  Type.Object(
    {
      host: Host(),
      port: Port(8080),
      tls: Type.Optional(TlsServerConfig),
      // Optional for configurations built in code; files get the default (trust none).
      trustedProxies: Type.Optional(TrustedProxies),
    },
    { ...strict, default: {} },
  ),
  (http) => trustedProxyProblems(http.trustedProxies ?? []),
);

export const DatabaseConfig = Type.Object(
  {
    url: Type.String({
      pattern: '^postgres(ql)?://[^:@/\\s]*@?[^@\\s]*$',
      default: 'postgres://identgate@127.0.0.1:5432/identgate',
      description: 'a postgres:// URL without a password (use database.password)',
    }),
    password: Type.Optional(SecretRef),
    poolSize: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  },
  { ...strict, default: {} },
);
export type DatabaseConfig = Static<typeof DatabaseConfig>;

export const TrustedGateway = Type.Object(
  {
    site: Id,
    id: Id,
    publicKey: Type.String({
      pattern: PUBLIC_KEY_PATTERN,
      description: 'the gateway signing key (ed25519:…) printed by `identgate gateway`',
    }),
    encryptionKey: Type.Optional(
      Type.String({
        pattern: '^p256:[A-Za-z0-9_-]{87}$',
        description:
          'the gateway encryption key (p256:…) printed by `identgate gateway`; needed for credential sync',
      }),
    ),
  },
  strict,
);
export type TrustedGateway = Static<typeof TrustedGateway>;

/** The retention job: what is not covered by a stored policy, and how often expired data goes. */
export const RetentionConfig = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'run the retention job in this instance (several instances are safe: one runs at a time)',
    }),
    intervalMinutes: Type.Integer({
      minimum: 1,
      maximum: 1440,
      default: 60,
      description:
        'how often the retention job runs; expired data is gone at most this long after it expires',
    }),
    defaultDays: Type.Integer({
      minimum: 1,
      maximum: 3650,
      default: 60,
      description: 'days every data class is kept where no stored policy says otherwise',
    }),
    batchSize: Type.Integer({
      minimum: 100,
      maximum: 100_000,
      default: 5000,
      description: 'rows per DELETE statement; each batch is its own short transaction',
    }),
    partitionsAheadDays: Type.Integer({
      minimum: 1,
      maximum: 60,
      default: 7,
      description: 'days of event partitions the job creates ahead, on the native partitioning path',
    }),
    lockTimeoutSeconds: Type.Integer({
      minimum: 1,
      maximum: 60,
      default: 3,
      description:
        'how long creating or dropping an event partition waits for its lock on `events` (inserts queue behind the wait), and analysing a table after the run or an erasure waits for its own; the next run retries',
    }),
  },
  { ...strict, default: {} },
);
export type RetentionConfig = Static<typeof RetentionConfig>;

/** The retention settings with every default filled in, also when the section is absent. */
export function retentionSettings(config: {
  retention?: Partial<RetentionConfig> | undefined;
}): RetentionConfig {
  return Value.Default(RetentionConfig, { ...config.retention }) as RetentionConfig;
}

/** Staff sign-in: session lifetimes and how long a re-authentication counts. */
export const StaffConfig = Type.Object(
  {
    idleMinutes: Type.Integer({
      minimum: 1,
      maximum: 240,
      default: 30,
      description: 'a staff session ends after this many minutes without a request',
    }),
    absoluteHours: Type.Integer({
      minimum: 1,
      maximum: 24,
      default: 12,
      description: 'a staff session ends this many hours after sign-in, active or not',
    }),
    reauthMinutes: Type.Integer({
      minimum: 1,
      maximum: 30,
      default: 5,
      description:
        'password and code confirmed this recently allow sensitive actions (remote unlock, exports, retention changes, a new authenticator)',
    }),
    issuer: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'identgate',
      description: 'the name authenticator apps show beside staff accounts',
    }),
  },
  { ...strict, default: {} },
);
export type StaffConfig = Static<typeof StaffConfig>;

export function staffSettings(config: { staff?: Partial<StaffConfig> | undefined }): StaffConfig {
  return Value.Default(StaffConfig, { ...config.staff }) as StaffConfig;
}

/** The central keys (docs/security.md). */
const KeysSection = Type.Object(
  {
    signing: Type.Optional(
      Type.Union(SecretRef.anyOf, {
        description:
          'the central Ed25519 signing key (PEM) for commands, credential sets, checkpoints, exports and the erased-rows list: { file: … } or { env: … }',
      }),
    ),
    retiredSigning: Type.Optional(
      Type.Array(
        Type.Object(
          {
            publicKey: Type.String({ pattern: PUBLIC_KEY_PATTERN }),
            lastDay: Type.String({
              pattern: '^\\d{4}-\\d{2}-\\d{2}$',
              description: 'the last UTC day (YYYY-MM-DD) whose checkpoint it may have signed',
            }),
          },
          strict,
        ),
        {
          maxItems: 8,
          default: [],
          description:
            'central keys (ed25519:…) that signed before keys.signing: day checkpoints up to their lastDay and the erased-rows list they signed are accepted as theirs, and exports name them (docs/security.md#rotating-the-central-signing-key)',
        },
      ),
    ),
    master: Type.Optional(
      Type.Union(SecretRef.anyOf, {
        description:
          "the master key (32 bytes, base64) sealing TOTP secrets, photos and the erasure tombstones' key in the database: { file: … } or { env: … }",
      }),
    ),
    masterDecryptOnly: Type.Optional(
      Type.Array(Type.Union(SecretRef.anyOf), {
        maxItems: 4,
        description:
          'master keys that open sealed values but never seal new ones: the previous key during a rotation, or the next one before it becomes keys.master (docs/security.md)',
      }),
    ),
  },
  { ...strict, default: {} },
);

/**
 * keys.retiredSigning as written: real days, no key twice. That a retired key is not
 * keys.signing itself needs the key loaded, and is checked at start (central-keys.ts).
 */
const KeysConfig = refine(KeysSection, (keys) => retiredSigningProblems(keys.retiredSigning ?? []));

/**
 * What is wrong with a keys.retiredSigning list as written (pointers relative to `keys`): a
 * lastDay not in the calendar, a key listed twice. Also run at start for configurations built
 * in code (dashboard/audit/central-keys.ts).
 */
export function retiredSigningProblems(
  retired: ReadonlyArray<{ publicKey: string; lastDay: string }>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const [i, r] of retired.entries()) {
    const day = new Date(`${r.lastDay}T00:00:00Z`);
    if (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== r.lastDay)
      problems.push({
        pointer: `/retiredSigning/${i}/lastDay`,
        message: `${r.lastDay} is not a day of the calendar`,
      });
    if (seen.has(r.publicKey))
      problems.push({ pointer: `/retiredSigning/${i}`, message: `${r.publicKey} is listed twice` });
    seen.add(r.publicKey);
  }
  return problems;
}

/** The tamper-evident log's copy of its checkpoints outside the database (docs/audit.md). */
export const AuditConfig = Type.Object(
  {
    witnessFile: Type.Optional(
      Type.String({
        pattern: '^/',
        maxLength: 4096,
        description:
          "an absolute path where every day checkpoint is also appended (fsync'd), outside the database: the checkpoint job restores witnessed checkpoints the database lost and raises audit-witness-mismatch when it disagrees; put it on storage the database's administrators cannot rewrite, or ship it off the host (docs/audit.md#the-witness)",
      }),
    ),
  },
  { ...strict, default: {} },
);
export type AuditConfig = Static<typeof AuditConfig>;

export const DashboardConfig = Type.Object(
  {
    kind: Type.Literal('dashboard'),
    http: HttpConfig,
    database: DatabaseConfig,
    mqtt: MqttConnection('identgate-dashboard', { websocket: false }),
    ingest: Type.Object(
      {
        sites: Type.Array(Id, { default: [], description: 'sites to ingest; empty means every site' }),
        mqttProtocol: Type.Optional(
          // 5 unquoted in YAML (or an environment variable) is a number.
          Type.Union([Type.Literal('auto'), Type.Literal(5), Type.Literal('5'), Type.Literal('3.1.1')], {
            default: 'auto',
            description:
              "MQTT version of the ingest's subscription: '5' where the broker speaks it (shared subscriptions, never downgraded), '3.1.1' for brokers that do not, 'auto' tries 5 and falls back",
          }),
        ),
        verifyThreads: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 16,
            default: 1,
            description:
              "worker threads that verify event signatures (Ed25519, the ingest's largest CPU cost); 0 verifies on the ingest thread",
          }),
        ),
        offlineAfterSeconds: Type.Optional(
          Type.Integer({
            minimum: 10,
            maximum: 86_400,
            default: 180,
            description:
              "a gateway heard from before that sends no sign of life (event, heartbeat) for this long raises a critical `gateway-offline` alarm; keep it above the gateways' `heartbeatSeconds` (default 60)",
          }),
        ),
      },
      { ...strict, default: {} },
    ),
    gateways: Type.Array(TrustedGateway, { default: [] }),
    // Optional for configurations built in code (demo, tests); files get the defaults filled in.
    retention: Type.Optional(RetentionConfig),
    staff: Type.Optional(StaffConfig),
    workstations: Type.Optional(WorkstationsConfig),
    audit: Type.Optional(AuditConfig),
    keys: KeysConfig,
  },
  strict,
);
export type DashboardConfig = Static<typeof DashboardConfig>;

/** `ingest.mqttProtocol` as the subscriber takes it (3.1.1 is protocol level 4). */
export function ingestProtocol(setting: 'auto' | 5 | '5' | '3.1.1' | undefined): 'auto' | 5 | 4 {
  if (setting === 5 || setting === '5') return 5;
  return setting === '3.1.1' ? 4 : 'auto';
}
