import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateIndex, type IndexEntry } from '../../../src/pki/certificate-index.js';
import { identityFor, identityOfCommonName } from '../../../src/pki/identities.js';
import { aclRules, mosquittoAcl, mosquittoConf, opensslConf } from '../../../src/pki/mosquitto-config.js';
import { workstationCommandTopic } from '../../../src/protocol/workstation-commands.js';

const gateway = identityFor('gateway', 'berlin-mitte/gw-room-1');
const workstation = identityFor('workstation', 'berlin-mitte/ws-1');
const dashboard = identityFor('dashboard', 'central-1');

describe('certificate common names', () => {
  it('say role, site and id, and split back into them', () => {
    expect(gateway.cn).toBe('gateway:berlin-mitte:gw-room-1');
    expect(workstation.cn).toBe('workstation:berlin-mitte:ws-1');
    expect(dashboard.cn).toBe('dashboard:central-1');
    for (const identity of [gateway, workstation, dashboard])
      expect(identityOfCommonName(identity.cn)).toEqual(identity);
  });

  it('refuse names that are not ids, so no CN can carry MQTT wildcards or separators', () => {
    for (const name of ['berlin/#', 'berlin/+', 'berlin', 'berlin/gw/1', 'a:b/gw-1']) {
      expect(() => identityFor('gateway', name)).toThrow(expect.objectContaining({ code: 'IDG_PKI_NAME' }));
    }
    expect(() => identityFor('dashboard', 'central/1')).toThrow(
      expect.objectContaining({ code: 'IDG_PKI_NAME' }),
    );
  });

  it('take a workstation by its registered host name, dots included, and split back into it', () => {
    const dotted = identityFor('workstation', 'hq/ws-ident-1-01.example.internal');
    expect(dotted).toEqual({
      role: 'workstation',
      cn: 'workstation:hq:ws-ident-1-01.example.internal',
      site: 'hq',
      id: 'ws-ident-1-01.example.internal',
    });
    expect(identityOfCommonName(dotted.cn)).toEqual(dotted);
  });

  it('refuse workstation names that would carry wildcards, separators or a leading dot, and dots in gateway ids', () => {
    for (const name of ['hq/ws+1', 'hq/ws#', 'hq/ws/1', 'hq/ws:1', 'hq/.ws', 'hq/ws 1', 'h.q/ws-1'])
      expect(() => identityFor('workstation', name)).toThrow(
        expect.objectContaining({ code: 'IDG_PKI_NAME' }),
      );
    expect(() => identityFor('gateway', 'hq/gw.1')).toThrow(
      expect.objectContaining({ code: 'IDG_PKI_NAME' }),
    );
  });

  it('keep the gateway id "workstations" free for workstation topics', () => {
    expect(() => identityFor('gateway', 'berlin/workstations')).toThrow(/reserved/);
  });

  it('refuse a CN of an unknown role', () => {
    expect(() => identityOfCommonName('admin:root')).toThrow(
      expect.objectContaining({ code: 'IDG_PKI_NAME' }),
    );
  });
});

describe('the Mosquitto ACL', () => {
  const writes = (rules: ReturnType<typeof aclRules>) =>
    rules.filter((r) => r.access === 'write').map((r) => r.topic);
  const reads = (rules: ReturnType<typeof aclRules>) =>
    rules.filter((r) => r.access === 'read').map((r) => r.topic);

  it('lets a gateway publish its own events, status, door states and footage answers, and read its own commands, credentials and footage requests', () => {
    const rules = aclRules(gateway);
    const base = 'identgate/v1/berlin-mitte/gw-room-1';
    expect(writes(rules)).toEqual([
      `${base}/events`,
      `${base}/status`,
      `${base}/doors/+/state`,
      `${base}/footage/+`,
    ]);
    expect(reads(rules)).toEqual([`${base}/commands`, `${base}/credentials`, `${base}/footage-requests`]);
  });

  it('gives a gateway no wildcard over sites or gateways', () => {
    for (const rule of aclRules(gateway))
      expect(rule.topic.split('/').slice(0, 4)).toEqual(['identgate', 'v1', 'berlin-mitte', 'gw-room-1']);
  });

  it('lets a workstation read its own commands and publish nothing (it reports lock results over HTTPS)', () => {
    const rules = aclRules(workstation);
    expect(writes(rules)).toEqual([]);
    expect(reads(rules)).toEqual(['identgate/v1/berlin-mitte/workstations/ws-1/commands']);
  });

  it('grants a workstation with a host-name id exactly the topic central sends its locks to', () => {
    const id = 'ws-ident-1-01.example.internal';
    const rules = aclRules(identityFor('workstation', `berlin-mitte/${id}`));
    expect(reads(rules)).toEqual([workstationCommandTopic('berlin-mitte', id)]);
    expect(mosquittoAcl([identityFor('workstation', `berlin-mitte/${id}`)])).toContain(
      `user workstation:berlin-mitte:${id}\ntopic read identgate/v1/berlin-mitte/workstations/${id}/commands\n`,
    );
  });

  it('lets the dashboard read events, status and door states and send commands and credentials', () => {
    const rules = aclRules(dashboard);
    expect(reads(rules)).toEqual(
      expect.arrayContaining([
        'identgate/v1/+/+/events',
        'identgate/v1/+/+/status',
        'identgate/v1/+/+/doors/+/state',
      ]),
    );
    expect(writes(rules)).toEqual(
      expect.arrayContaining([
        'identgate/v1/+/+/commands',
        'identgate/v1/+/+/credentials',
        'identgate/v1/+/+/footage-requests',
      ]),
    );
    expect(reads(rules)).toContain('identgate/v1/+/+/footage/+');
    expect(writes(rules)).not.toContain('identgate/v1/+/+/events');
    expect(writes(rules)).not.toContain('identgate/v1/+/+/footage/+');
  });

  it('lets the dashboard send workstations their lock commands and read nothing from them', () => {
    const rules = aclRules(dashboard);
    expect(writes(rules)).toContain('identgate/v1/+/workstations/+/commands');
    expect(reads(rules).filter((topic) => topic.includes('/workstations/'))).toEqual([]);
  });

  it('has a user block for every identity with a valid certificate and none for revoked or expired ones', () => {
    const index = CertificateIndex.load(join(mkdtempSync(join(tmpdir(), 'idg-index-')), 'index.json'));
    const entry = (cn: string, overrides: Partial<IndexEntry> = {}): IndexEntry => ({
      serial: Math.floor(Math.random() * 1e12).toString(16),
      cn,
      role: identityOfCommonName(cn).role,
      sans: [],
      notBefore: new Date(Date.now() - 1000).toISOString(),
      notAfter: new Date(Date.now() + 86_400_000).toISOString(),
      fingerprint256: 'AA',
      source: 'csr',
      status: 'valid',
      ...overrides,
    });
    index.add(entry(gateway.cn));
    index.add(entry('gateway:berlin-mitte:gw-revoked'));
    index.revoke('gateway:berlin-mitte:gw-revoked');
    index.add(
      entry('gateway:berlin-mitte:gw-expired', { notAfter: new Date(Date.now() - 1000).toISOString() }),
    );
    index.add(entry(dashboard.cn));
    const acl = mosquittoAcl(index.validIdentities());
    expect(acl.match(/^user .*$/gm)).toEqual([
      'user dashboard:central-1',
      'user gateway:berlin-mitte:gw-room-1',
    ]);
    expect(acl).not.toMatch(/^pattern /m);
  });
});

describe('the Mosquitto configuration', () => {
  const conf = mosquittoConf({
    dir: '/etc/mosquitto/identgate',
    host: '0.0.0.0',
    port: 8883,
    persistenceDir: '/var/lib/mosquitto',
  });

  it('requires client certificates and takes the CN as the username', () => {
    expect(conf).toMatch(/^require_certificate true$/m);
    expect(conf).toMatch(/^use_identity_as_username true$/m);
    expect(conf).toMatch(/^allow_anonymous false$/m);
    expect(conf).toMatch(/^acl_file \/etc\/mosquitto\/identgate\/acl$/m);
    expect(conf).toMatch(/^crlfile \/etc\/mosquitto\/identgate\/crl\.pem$/m);
  });

  it('keeps sessions across restarts with a raised queue', () => {
    expect(conf).toMatch(/^persistence true$/m);
    expect(conf).toMatch(/^max_queued_messages 1000000$/m);
    // A credential set at its largest (16 MiB) passes; anything larger is no message of ours.
    expect(conf).toMatch(/^max_packet_size 16842752$/m);
  });

  it("bounds each client's queue at 1 GiB and ends sessions away longer than 14 days by default", () => {
    expect(conf).toMatch(/^max_queued_bytes 1073741824$/m);
    expect(conf).toMatch(/^persistent_client_expiration 14d$/m);
  });

  it('writes the queue and session limits it is given', () => {
    const limited = mosquittoConf({
      dir: '/etc/mosquitto/identgate',
      host: '0.0.0.0',
      port: 8883,
      persistenceDir: '/var/lib/mosquitto',
      limits: { maxQueuedMessages: 0, maxQueuedBytes: 512 * 1024 ** 2, persistentClientExpiration: '3w' },
    });
    expect(limited).toMatch(/^max_queued_messages 0$/m);
    expect(limited).toMatch(/^# Per client, in payload bytes \(512 MiB; 0: no limit\)/m);
    expect(limited).toMatch(/^max_queued_bytes 536870912$/m);
    expect(limited).toMatch(/^persistent_client_expiration 3w$/m);
  });

  it('explains the settings it chooses, each in a comment line just above it', () => {
    // Mosquitto takes `#` as a comment only at the start of a line.
    const lines = conf.split('\n');
    for (const setting of [
      'allow_anonymous',
      'persistence',
      'max_queued_messages',
      'max_queued_bytes',
      'persistent_client_expiration',
      'max_inflight_messages',
      'max_packet_size',
    ]) {
      const at = lines.findIndex((line) => line.startsWith(`${setting} `));
      expect(lines[at - 1], setting).toMatch(/^# /);
    }
  });

  it('carries the TLS profile: TLS 1.2 at least, the profile suites only', () => {
    expect(conf).toMatch(/^tls_version tlsv1\.2$/m);
    expect(conf).toMatch(
      /^ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-CCM:ECDHE-ECDSA-AES128-CCM:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256$/m,
    );
    expect(conf).toMatch(
      /^ciphers_tls1\.3 TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256$/m,
    );
  });

  it('leaves groups and signature algorithms to an OpenSSL configuration without X25519', () => {
    const cnf = opensslConf();
    expect(cnf).toMatch(/^Groups = P-384:P-256:brainpoolP384r1:brainpoolP256r1$/m);
    expect(cnf).toMatch(/^MinProtocol = TLSv1\.2$/m);
    expect(cnf).not.toMatch(/X25519/);
  });
});
