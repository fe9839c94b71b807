import type { ConnectionOptions } from 'node:tls';
import { type Clock, systemClock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { type BackoffPolicy, defaultBackoff } from './mqtt-backoff.js';
import { MqttErrorCode } from './mqtt-errors.js';

export interface MqttSubscriberOptions {
  /** mqtt://host[:1883] or mqtts://host[:8883]; user and password in the URL are used if not given below. */
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** For mqtts:// only: passed to `tls.connect` (ca, cert, key, minVersion, ciphers, ecdhCurve, …). */
  tls?: ConnectionOptions;
  /** 'auto' (default) tries MQTT 5 first and falls back to 3.1.1 if the broker refuses it. */
  protocol?: 'auto' | 5 | 4;
  /** Default 30; 0 turns keep-alive off. A broker's Server Keep Alive (MQTT 5) takes precedence. */
  keepaliveSeconds?: number;
  /** Default false: a persistent session, so the broker keeps unacknowledged messages. */
  clean?: boolean;
  /** MQTT 5 Session Expiry Interval for a persistent session; default 7 days. */
  sessionExpirySeconds?: number;
  subscriptions: ReadonlyArray<{ topic: string; qos: 1 }>;
  /** With MQTT 5, subscribe as `$share/<group>/<topic>` so that subscribers in the group split the load. */
  sharedGroup?: string;
  /**
   * Topics this client may have subscribed to in an earlier run and no longer wants (sites no
   * longer ingested here). A resumed session keeps every subscription it ever had: these, in
   * both forms, and the other form (shared or plain) of the topics above, are unsubscribed.
   */
  retiredTopics?: readonly string[];
  /**
   * MQTT 5 Receive Maximum: unacknowledged QoS 1 and 2 messages the broker may have in flight to
   * us (default 1000). The spec makes one more a protocol error; it is warned about once and
   * taken all the same, since Mosquitto 2.0 miscounts after a reconnect (see MqttConnection).
   */
  receiveMaximum?: number;
  /** Time allowed from opening the socket to the SUBACK; default 10 s. */
  connectTimeoutMs?: number;
  reconnect?: Partial<BackoffPolicy>;
  clock?: Clock;
  log: Logger;
}

export interface BrokerTarget {
  host: string;
  port: number;
  tls: ConnectionOptions | undefined;
  /** The URL without credentials, for logs. */
  display: string;
}

export interface ResolvedOptions {
  target: BrokerTarget;
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  protocol: 'auto' | 5 | 4;
  keepaliveSeconds: number;
  clean: boolean;
  sessionExpirySeconds: number;
  topics: string[];
  sharedGroup: string | undefined;
  retiredTopics: string[];
  receiveMaximum: number;
  connectTimeoutMs: number;
  backoff: BackoffPolicy;
  clock: Clock;
  log: Logger;
}

const SEVEN_DAYS_S = 7 * 24 * 3600;

/** Applies defaults and checks every option, reporting all problems in one IDG_MQTT_CONFIG error. */
export function resolveOptions(options: MqttSubscriberOptions): ResolvedOptions {
  const problems: string[] = [];
  const target = parseTarget(options, problems);
  const integer = (name: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max)
      problems.push(`${name} must be an integer from ${min} to ${max}, got ${value}`);
    return value;
  };
  if (options.clientId.length === 0) problems.push('clientId must not be empty');
  const protocol = options.protocol ?? 'auto';
  if (protocol !== 'auto' && protocol !== 4 && protocol !== 5)
    problems.push(`protocol must be 'auto', 5 or 4, got ${String(protocol)}`);
  if (options.subscriptions.length === 0) problems.push('subscriptions must name at least one topic');
  for (const { topic, qos } of options.subscriptions) {
    if (topic.length === 0 || topic.startsWith('$share/'))
      problems.push(`subscription topic "${topic}" must be a plain, non-empty topic filter`);
    if (qos !== 1) problems.push(`subscription "${topic}" must be QoS 1, got ${String(qos)}`);
  }
  if (options.sharedGroup !== undefined && !/^[^/+#]+$/.test(options.sharedGroup))
    problems.push(`sharedGroup "${options.sharedGroup}" must be non-empty without "/", "+" or "#"`);
  const backoff = { ...defaultBackoff, ...options.reconnect };
  const resolved: ResolvedOptions = {
    target: target ?? { host: '', port: 0, tls: undefined, display: options.url },
    clientId: options.clientId,
    username: options.username ?? target?.username,
    password: toBuffer(options.password ?? target?.password),
    protocol,
    keepaliveSeconds: integer('keepaliveSeconds', options.keepaliveSeconds ?? 30, 0, 65_535),
    clean: options.clean ?? false,
    sessionExpirySeconds: integer(
      'sessionExpirySeconds',
      options.sessionExpirySeconds ?? SEVEN_DAYS_S,
      0,
      0xffff_ffff,
    ),
    topics: options.subscriptions.map((s) => s.topic),
    sharedGroup: options.sharedGroup,
    retiredTopics: [...(options.retiredTopics ?? [])],
    receiveMaximum: integer('receiveMaximum', options.receiveMaximum ?? 1000, 1, 65_535),
    connectTimeoutMs: integer('connectTimeoutMs', options.connectTimeoutMs ?? 10_000, 1, 600_000),
    backoff: {
      initialMs: integer('reconnect.initialMs', backoff.initialMs, 1, 3_600_000),
      maxMs: integer('reconnect.maxMs', backoff.maxMs, backoff.initialMs, 3_600_000),
    },
    clock: options.clock ?? systemClock,
    log: options.log,
  };
  if (problems.length > 0) {
    throw new CodedError(
      MqttErrorCode.config,
      `MQTT subscriber ${options.clientId}: ${problems.length} option problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return resolved;
}

function parseTarget(
  options: MqttSubscriberOptions,
  problems: string[],
): (BrokerTarget & { username?: string; password?: string }) | undefined {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (error) {
    problems.push(`url "${options.url}" is not a URL (${(error as Error).message})`);
    return undefined;
  }
  const secure = url.protocol === 'mqtts:';
  if (!secure && url.protocol !== 'mqtt:') {
    problems.push(`url must start with mqtt:// or mqtts://, got ${url.protocol}//`);
    return undefined;
  }
  if (!secure && options.tls) problems.push('tls options need an mqtts:// url');
  // IPv6 literals come bracketed from URL.hostname; net.connect wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : secure ? 8883 : 1883;
  return {
    host,
    port,
    tls: secure ? (options.tls ?? {}) : undefined,
    display: `${url.protocol}//${url.host}`,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

function toBuffer(password: string | undefined): Buffer | undefined {
  return password === undefined ? undefined : Buffer.from(password, 'utf8');
}
