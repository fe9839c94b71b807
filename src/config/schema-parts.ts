import Type from 'typebox';
import { ID_PATTERN } from '../protocol/ids.js';

/** Building blocks shared by the configuration schemas. */
export const strict = { additionalProperties: false } as const;

export const Id = Type.String({
  pattern: ID_PATTERN,
  description: 'an id of letters, digits, "-" and "_" (at most 64, starting with a letter or digit)',
});

export const Port = (defaultPort: number) =>
  Type.Integer({
    minimum: 0,
    maximum: 65535,
    default: defaultPort,
    description: 'a TCP port; 0 picks a free one',
  });

export const Host = (defaultHost = '127.0.0.1') =>
  Type.String({
    minLength: 1,
    maxLength: 253,
    default: defaultHost,
    description: 'an IP address or host name',
  });

export const Seconds = (defaultValue: number, minimum: number, maximum: number) =>
  Type.Number({ minimum, maximum, default: defaultValue });

/**
 * A secret is never written into a YAML file: the file names where the secret comes from.
 */
export const SecretRef = Type.Union(
  [
    Type.Object({ file: Type.String({ minLength: 1 }) }, strict),
    Type.Object({ env: Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' }) }, strict),
  ],
  { description: '{ file: /path/to/secret } or { env: VARIABLE_NAME } — never the secret itself' },
);

export const MqttConnection = (defaultClientId?: string) =>
  Type.Object(
    {
      url: Type.String({
        pattern: '^(mqtt|mqtts|ws|wss)://[^\\s/?#@]+(:\\d+)?(/.*)?$',
        default: 'mqtt://127.0.0.1:1883',
        description: 'an mqtt://, mqtts://, ws:// or wss:// URL without credentials',
      }),
      clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, default: defaultClientId })),
      username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      password: Type.Optional(SecretRef),
    },
    { ...strict, default: {} },
  );
