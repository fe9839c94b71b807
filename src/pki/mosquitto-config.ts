import { join } from 'node:path';
import { TLS_PROFILE } from '../lib/tls-profile.js';
import { MAX_CREDENTIAL_SET_BYTES } from '../protocol/credential-set.js';
import { TOPIC_ROOT } from '../protocol/topics.js';
import type { Identity } from './identities.js';

/**
 * What `identgate pki mosquitto-config` writes: a Mosquitto configuration with the TLS profile
 * and client certificates required, an OpenSSL configuration for what Mosquitto has no option
 * for (groups, signature algorithms), and an ACL with one explicit block per identity.
 *
 * Explicit `user` blocks rather than `pattern` lines: with `use_identity_as_username` the CN is
 * the username, and `%u` can only stand for a whole topic level, so a pattern could not tie
 * `gateway:<site>:<id>` to `…/<site>/<id>/…`. A block per issued certificate says exactly who
 * may do what, can be read in a review, and a revoked identity simply has none (default deny).
 */
export interface MosquittoLayout {
  /** The directory the files live in on the broker machine (absolute). */
  dir: string;
  host: string;
  port: number;
  persistenceDir: string;
  /** Default: BROKER_QUEUE_DEFAULTS. */
  limits?: Partial<BrokerQueueLimits>;
}

export interface BrokerQueueLimits {
  /** Per client, beyond the messages in flight; 0 is no limit. */
  maxQueuedMessages: number;
  /** Per client, in payload bytes; 0 is no limit. */
  maxQueuedBytes: number;
  /** Mosquitto's duration: a whole number and h, d, w, m (30 days) or y (365 days). */
  persistentClientExpiration: string;
}

/**
 * Mosquitto 2.0 reads the queue limits into a C int and computes the expiration in one: a larger
 * value wraps around without a word (`max_queued_bytes 4294967297` queues 1 byte).
 */
export const MOSQUITTO_INT_MAX = 2_147_483_647;

/** The units `persistent_client_expiration` takes, in seconds (Mosquitto's `m` is 30 days, `y` 365). */
export const EXPIRATION_UNIT_SECONDS = {
  h: 3600,
  d: 86_400,
  w: 7 * 86_400,
  m: 30 * 86_400,
  y: 365 * 86_400,
} as const;

/**
 * The dashboard's ingest asks for a 7-day MQTT 5 session (mqtt-subscriber-options.ts), and
 * Mosquitto 2.0 caps a session's expiry at `persistent_client_expiration`. Shorter, a dashboard
 * down for longer would lose the events queued for it, which the gateways keep only 24 h once the
 * broker has acknowledged them.
 */
export const MIN_CLIENT_EXPIRATION_SECONDS = 7 * 86_400;

/**
 * What an outage needs, bounded (docs/messaging.md, broker settings). Mosquitto's own defaults
 * (1000 messages, no byte limit, sessions kept for ever) drop the events of a dashboard that is
 * away for a while, yet queue without bound for a gateway that never comes back.
 * - 1,000,000 messages and 1 GiB hold about a million signed events (a few hundred bytes each)
 *   for a dashboard that is down: 4 days of 12 sites with 20,000 events a day each.
 * - 1 GiB bounds what each client away takes of the broker's memory; a gateway's queue is mostly
 *   credential sets it will not need (the newest is retained).
 * - 14 days: twice the ingest's 7-day session, so a dashboard down over a long weekend or for a
 *   maintenance week keeps its queue; a gateway away longer only loses sets it no longer needs.
 */
export const BROKER_QUEUE_DEFAULTS: Readonly<BrokerQueueLimits> = {
  maxQueuedMessages: 1_000_000,
  maxQueuedBytes: 1024 ** 3,
  persistentClientExpiration: '14d',
};

/** `1 GiB`, `512 MiB`, or plain bytes: the limit as an operator thinks of it. */
export function describeBytes(bytes: number): string {
  if (bytes === 0) return 'no limit';
  for (const [unit, size] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** A credential set at its largest, with room for the topic and the packet's header. */
const MAX_PACKET_BYTES = MAX_CREDENTIAL_SET_BYTES + 64 * 1024;

export const MOSQUITTO_FILES = {
  conf: 'mosquitto.conf',
  acl: 'acl',
  openssl: 'openssl.cnf',
  systemd: 'mosquitto-identgate.service.conf',
  ca: 'ca.crt',
  crl: 'crl.pem',
  cert: 'broker.crt',
  key: 'broker.key',
} as const;

export function mosquittoConf(layout: MosquittoLayout): string {
  const file = (name: string) => join(layout.dir, name);
  const limits = layout.limits ?? {};
  const maxQueuedMessages = limits.maxQueuedMessages ?? BROKER_QUEUE_DEFAULTS.maxQueuedMessages;
  const maxQueuedBytes = limits.maxQueuedBytes ?? BROKER_QUEUE_DEFAULTS.maxQueuedBytes;
  const persistentClientExpiration =
    limits.persistentClientExpiration ?? BROKER_QUEUE_DEFAULTS.persistentClientExpiration;
  const bytesNote = maxQueuedBytes === 0 ? 'no limit' : `${describeBytes(maxQueuedBytes)}; 0: no limit`;
  return [
    '# Written by `identgate pki mosquitto-config`: regenerate it after every issue or revoke.',
    `# TLS profile: ${TLS_PROFILE.guideline}. Mosquitto has no option for key exchange groups or`,
    `# signature algorithms: start it with OPENSSL_CONF=${file(MOSQUITTO_FILES.openssl)} (see`,
    `# ${MOSQUITTO_FILES.systemd}), or it would also offer X25519.`,
    'per_listener_settings false',
    '# Every client authenticates with a certificate; its CN is the username the ACL knows.',
    'allow_anonymous false',
    `acl_file ${file(MOSQUITTO_FILES.acl)}`,
    '# Gateways and the dashboard keep persistent sessions: queued QoS 1 messages survive a restart.',
    'persistence true',
    `persistence_location ${layout.persistenceDir.replace(/\/?$/, '/')}`,
    'autosave_interval 60',
    "# Per client, beyond those in flight (0: no limit). Mosquitto's default, 1000, drops the events",
    '# queued for a dashboard that is away or behind, after the gateways were acknowledged.',
    `max_queued_messages ${maxQueuedMessages}`,
    `# Per client, in payload bytes (${bytesNote}): what one client away may take`,
    "# of the broker's memory. The first limit reached applies; a full queue drops the newest messages.",
    `max_queued_bytes ${maxQueuedBytes}`,
    '# Ends the session, and its queue, of a client away longer than this (h, d, w, m = 30 days,',
    "# y = 365 days). It also caps the 7-day session the dashboard's ingest asks for: at least 7d.",
    `persistent_client_expiration ${persistentClientExpiration}`,
    '# Lets the ingest acknowledge in batches (MQTT 3.1.1 clients).',
    'max_inflight_messages 1000',
    `# A credential set at its largest (${MAX_CREDENTIAL_SET_BYTES / 1024 ** 2} MiB) with room for topic and header; a client`,
    '# that sends a larger packet is disconnected before the broker stores or forwards it.',
    `max_packet_size ${MAX_PACKET_BYTES}`,
    '',
    `listener ${layout.port} ${layout.host}`,
    `cafile ${file(MOSQUITTO_FILES.ca)}`,
    `certfile ${file(MOSQUITTO_FILES.cert)}`,
    `keyfile ${file(MOSQUITTO_FILES.key)}`,
    `crlfile ${file(MOSQUITTO_FILES.crl)}`,
    'require_certificate true',
    'use_identity_as_username true',
    'tls_version tlsv1.2',
    `ciphers ${TLS_PROFILE.tls12Suites.join(':')}`,
    `ciphers_tls1.3 ${TLS_PROFILE.tls13Suites.join(':')}`,
    '',
  ].join('\n');
}

/** OpenSSL's own configuration, loaded by Mosquitto through OPENSSL_CONF: the rest of the profile. */
export function opensslConf(): string {
  return [
    `# The identgate TLS profile (${TLS_PROFILE.guideline}) for every TLS context of the process`,
    '# that loads this file through OPENSSL_CONF (Mosquitto).',
    'openssl_conf = identgate_openssl_init',
    '',
    '[identgate_openssl_init]',
    'ssl_conf = identgate_ssl',
    '',
    '[identgate_ssl]',
    'system_default = identgate_tls_profile',
    '',
    '[identgate_tls_profile]',
    `MinProtocol = ${TLS_PROFILE.minVersion}`,
    `MaxProtocol = ${TLS_PROFILE.maxVersion}`,
    `CipherString = ${TLS_PROFILE.tls12Suites.join(':')}`,
    `Ciphersuites = ${TLS_PROFILE.tls13Suites.join(':')}`,
    `Groups = ${TLS_PROFILE.groups.join(':')}`,
    `SignatureAlgorithms = ${TLS_PROFILE.sigalgs.join(':')}`,
    '',
  ].join('\n');
}

export function systemdDropIn(layout: MosquittoLayout): string {
  return [
    `# Copy to /etc/systemd/system/mosquitto.service.d/identgate.conf, then systemctl daemon-reload.`,
    '[Service]',
    `Environment=OPENSSL_CONF=${join(layout.dir, MOSQUITTO_FILES.openssl)}`,
    `ExecStart=`,
    `ExecStart=/usr/sbin/mosquitto -c ${join(layout.dir, MOSQUITTO_FILES.conf)}`,
    '',
  ].join('\n');
}

/** The topics one identity may publish (`write`) and receive (`read`). */
export function aclRules(identity: Identity): Array<{ access: 'read' | 'write'; topic: string }> {
  const site = identity.site ?? '+';
  switch (identity.role) {
    case 'gateway': {
      const base = `${TOPIC_ROOT}/${site}/${identity.id}`;
      return [
        { access: 'write', topic: `${base}/events` },
        // Retained online/offline, and the Last Will (Mosquitto checks the will's topic too).
        { access: 'write', topic: `${base}/status` },
        { access: 'write', topic: `${base}/doors/+/state` },
        { access: 'read', topic: `${base}/commands` },
        { access: 'read', topic: `${base}/credentials` },
        { access: 'read', topic: `${base}/footage-requests` },
        { access: 'write', topic: `${base}/footage/+` },
      ];
    }
    case 'workstation':
      // The agent only receives lock commands; it reports their results over HTTPS (lock-result).
      return [{ access: 'read', topic: `${TOPIC_ROOT}/${site}/workstations/${identity.id}/commands` }];
    case 'dashboard':
      return [
        { access: 'read', topic: `${TOPIC_ROOT}/+/+/events` },
        // Shared subscriptions of several dashboard instances (MQTT 5).
        { access: 'read', topic: `$share/identgate-ingest/${TOPIC_ROOT}/+/+/events` },
        { access: 'read', topic: `${TOPIC_ROOT}/+/+/status` },
        { access: 'read', topic: `${TOPIC_ROOT}/+/+/doors/+/state` },
        { access: 'write', topic: `${TOPIC_ROOT}/+/+/commands` },
        { access: 'write', topic: `${TOPIC_ROOT}/+/+/credentials` },
        { access: 'write', topic: `${TOPIC_ROOT}/+/+/footage-requests` },
        { access: 'read', topic: `${TOPIC_ROOT}/+/+/footage/+` },
        { access: 'write', topic: `${TOPIC_ROOT}/+/workstations/+/commands` },
      ];
    case 'broker':
      return [];
  }
}

/** The ACL file: one `user` block per identity holding a valid certificate; everything else denied. */
export function mosquittoAcl(identities: readonly Identity[]): string {
  const lines = [
    '# Written by `identgate pki mosquitto-config` from the certificate index: one block per',
    '# identity with a valid certificate. Anything not listed is denied. Reload: kill -HUP mosquitto.',
  ];
  for (const identity of identities) {
    const rules = aclRules(identity);
    if (rules.length === 0) continue;
    lines.push('', `user ${identity.cn}`, ...rules.map((r) => `topic ${r.access} ${r.topic}`));
  }
  return `${lines.join('\n')}\n`;
}
