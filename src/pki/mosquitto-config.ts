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
  /** Mosquitto's default (1000) is too small for gateways that were offline for a while. */
  maxQueuedMessages?: number;
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
  return [
    '# Written by `identgate pki mosquitto-config`: regenerate it after every issue or revoke.',
    `# TLS profile: ${TLS_PROFILE.guideline}. Mosquitto has no option for key exchange groups or`,
    `# signature algorithms: start it with OPENSSL_CONF=${file(MOSQUITTO_FILES.openssl)} (see`,
    `# ${MOSQUITTO_FILES.systemd}), or it would also offer X25519.`,
    'per_listener_settings false',
    // Every client authenticates with a certificate; its CN is the username the ACL knows.
    'allow_anonymous false',
    `acl_file ${file(MOSQUITTO_FILES.acl)}`,
    // Gateways and the dashboard keep persistent sessions: queued QoS 1 messages survive a restart.
    'persistence true',
    `persistence_location ${layout.persistenceDir.replace(/\/?$/, '/')}`,
    'autosave_interval 60',
    // docs/messaging.md: the default (1000) drops messages for a subscriber that is away.
    `max_queued_messages ${layout.maxQueuedMessages ?? 1_000_000}`,
    // Lets the ingest acknowledge in batches.
    'max_inflight_messages 1000',
    // The largest message anyone sends is a credential set (at most 16 MiB, MAX_CREDENTIAL_SET_BYTES);
    // a client that sends a larger packet is disconnected before the broker stores or forwards it.
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
