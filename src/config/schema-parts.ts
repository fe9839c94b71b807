import Type, { type Static } from 'typebox';
import { ID_PATTERN } from '../protocol/ids.js';
import { PUBLIC_KEY_PATTERN } from '../protocol/signing.js';

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
 * The central keys an edge component trusts besides its one central key (`besides` names that
 * key), so that the central signing key can be rotated without a moment where edge and central
 * disagree: the edges trust the old and the new key while the dashboards switch.
 */
export const AlsoTrustedCentralKeys = (besides: string) =>
  Type.Optional(
    Type.Array(Type.String({ pattern: PUBLIC_KEY_PATTERN }), {
      maxItems: 3,
      default: [],
      description: `at most 3 other central keys (ed25519:…) accepted besides ${besides}: during a rotation of the central signing key, the old or the new one (docs/security.md#rotating-the-central-signing-key)`,
    }),
  );

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

const PemFile = (description: string) => Type.String({ minLength: 1, description });

/** A TLS listener's certificate and key (HTTPS); checked against the TLS profile at start-up. */
export const TlsServerConfig = Type.Object(
  {
    cert: PemFile('a PEM file: the certificate, then any intermediate CA certificates'),
    key: Type.Union(SecretRef.anyOf, {
      description: 'the private key (PEM): { file: … } (mode 0600) or { env: … }',
    }),
    ca: Type.Optional(PemFile('a PEM file of CA certificates, sent along to complete the chain')),
  },
  { ...strict, description: 'TLS for this listener; required unless it is bound to loopback' },
);
export type TlsServerConfig = Static<typeof TlsServerConfig>;

/** A TLS client's trust anchors and, for mutual TLS, its certificate and key (mqtts://). */
export const TlsClientConfig = Type.Object(
  {
    ca: Type.Optional(
      PemFile(
        "a PEM file of the CA the server's certificate must chain to (the site CA of `identgate pki init`); without it the system's trust store",
      ),
    ),
    cert: Type.Optional(PemFile('a PEM file: the client certificate (with `key`), for mutual TLS')),
    key: Type.Optional(
      Type.Union(SecretRef.anyOf, {
        description: "the client certificate's private key (PEM): { file: … } (mode 0600) or { env: … }",
      }),
    ),
  },
  { ...strict, description: 'TLS settings for an mqtts:// url' },
);
export type TlsClientConfig = Static<typeof TlsClientConfig>;

/**
 * A broker connection. The dashboard's ingest speaks MQTT over TCP itself (mqtt-connection.ts), so
 * its URL is `mqtt://` or `mqtts://`; MQTT.js, used elsewhere, also takes WebSocket URLs.
 */
export const MqttConnection = (defaultClientId?: string, { websocket = true } = {}) =>
  Type.Object(
    {
      url: Type.String({
        pattern: websocket
          ? '^(mqtt|mqtts|ws|wss)://[^\\s/?#@]+(:\\d+)?(/.*)?$'
          : '^(mqtt|mqtts)://[^\\s/?#@]+(:\\d+)?(/.*)?$',
        default: 'mqtt://127.0.0.1:1883',
        description: websocket
          ? 'an mqtt://, mqtts://, ws:// or wss:// URL without credentials'
          : 'an mqtt:// or mqtts:// URL without credentials',
      }),
      clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, default: defaultClientId })),
      username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
      password: Type.Optional(SecretRef),
      tls: Type.Optional(TlsClientConfig),
    },
    { ...strict, default: {} },
  );
