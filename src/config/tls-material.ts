import { readFileSync } from 'node:fs';
import type { TlsOptions } from 'node:tls';
import { CodedError } from '../lib/coded-error.js';
import {
  assertAcceptableMaterial,
  isLoopbackHost,
  type TlsClientOptions,
  TlsErrorCode,
  type TlsMaterial,
  tlsClientOptions,
  tlsServerOptions,
} from '../lib/tls-profile.js';
import { ConfigError, ConfigErrorCode } from './config-error.js';
import { resolveSecret } from './load-config.js';
import type { TlsClientConfig, TlsServerConfig } from './schema-parts.js';

type Env = Record<string, string | undefined>;

function readPem(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      key,
      [`cannot read ${file}: ${(error as Error).message}`],
      ConfigErrorCode.notFound,
    );
  }
}

/** Reads the files and secret a TLS section names and checks them against the TLS profile. */
export function loadTlsMaterial(
  config: TlsClientConfig | TlsServerConfig,
  key: string,
  env: Env = process.env,
): Partial<TlsMaterial> {
  if ((config.cert === undefined) !== (config.key === undefined)) {
    throw new ConfigError(key, ['cert and key go together: set both or neither'], ConfigErrorCode.invalid);
  }
  const material: Partial<TlsMaterial> = {
    ...(config.cert ? { cert: readPem(config.cert, `${key}.cert`) } : {}),
    ...(config.key ? { key: resolveSecret(config.key, `${key}.key`, env) } : {}),
    ...(config.ca ? { ca: readPem(config.ca, `${key}.ca`) } : {}),
  };
  assertAcceptableMaterial(material, key);
  return material;
}

/** Fastify's / `https.createServer`'s options for the dashboard's `http.tls`. */
export function httpsOptions(config: TlsServerConfig, key = 'http.tls', env: Env = process.env): TlsOptions {
  const material = loadTlsMaterial(config, key, env);
  return tlsServerOptions({ cert: material.cert ?? '', key: material.key ?? '', ca: material.ca });
}

/**
 * The TLS options of an MQTT connection, for MQTT.js (spread into its connect options) and for
 * `tls.connect` alike; undefined for a plain connection. A plain mqtt:// or ws:// URL is only
 * allowed to a loopback broker, and TLS settings on a plain URL are a mistake worth stopping for.
 */
export function mqttTlsOptions(
  config: TlsClientConfig | undefined,
  url: string,
  key = 'mqtt.tls',
  env: Env = process.env,
): TlsClientOptions | undefined {
  const parsed = new URL(url);
  if (parsed.protocol === 'wss:') {
    // MQTT.js hands only ca/cert/key on to WebSocket connections, not versions, suites or groups.
    throw new ConfigError(
      key.replace(/\.tls$/, '.url'),
      [
        'wss:// cannot carry the TLS profile (MQTT.js passes only ca, cert and key to WebSockets); use mqtts://',
      ],
      ConfigErrorCode.invalid,
    );
  }
  const secure = parsed.protocol === 'mqtts:';
  if (!secure) {
    if (config) {
      throw new ConfigError(
        key,
        [`TLS is configured but the url ${parsed.protocol}//${parsed.host} is plain; use mqtts://`],
        ConfigErrorCode.invalid,
      );
    }
    if (!isLoopbackHost(parsed.hostname)) {
      throw new CodedError(
        TlsErrorCode.required,
        `refusing a plain ${parsed.protocol}// connection to ${parsed.host}: outside loopback the broker is reached over TLS; use mqtts:// with ${key} (see docs/security.md)`,
      );
    }
    return undefined;
  }
  return tlsClientOptions(config ? loadTlsMaterial(config, key, env) : {});
}
