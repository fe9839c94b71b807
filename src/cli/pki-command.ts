import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveSecret } from '../config/load-config.js';
import { parseKey } from '../lib/aead.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { CertificateIndex } from '../pki/certificate-index.js';
import {
  fileStem,
  type Identity,
  identityFor,
  identityOfCommonName,
  isRole,
  type Role,
} from '../pki/identities.js';
import * as m from '../pki/mosquitto-config.js';
import { pkiPaths } from '../pki/pki-paths.js';
import { brokerLimits } from './broker-limit-options.js';
import { UsageError } from './cli-error.js';

export const PKI_USAGE = `usage (the site CA, docs/security.md):
  identgate pki init --name <CA name> --ca-key-file <file>   create the site CA (ECDSA P-384)
  identgate pki issue <role> <name> [--san host,ip] [--days N]   key and certificate made here
  identgate pki csr <role> <name> [--san host,ip] [--out dir]    on the device: key + CSR (key stays)
  identgate pki sign <file.csr> [--san host,ip] [--days N] [--out file.crt]   certify a CSR
  identgate pki revoke <serial|CN>                           revoke and re-sign the CRL
  identgate pki crl                                          re-sign the CRL (before it runs out)
  identgate pki list                                         every certificate issued
  identgate pki mosquitto-config --broker <name> --out <dir> [--listen host:port]
                                 [--persistence dir] [--install-dir dir]
                                 [--max-queued-messages N] [--max-queued-bytes N[KiB|MiB|GiB]]
                                 [--persistent-client-expiration N(h|d|w|m|y)]
roles: gateway <site>/<id>, workstation <site>/<host name as registered>, dashboard <name>, broker <name>
options: --dir <pki directory> (default ./pki or IDENTGATE_PKI_DIR); the CA key is sealed under
  the key in --ca-key-file (mode 0600, 32 random bytes base64; init creates it when missing) or
  in IDENTGATE_PKI_CA_KEY
mosquitto-config: the broker's queue per client holds at most --max-queued-messages (default
  ${m.BROKER_QUEUE_DEFAULTS.maxQueuedMessages}) and --max-queued-bytes (default ${m.describeBytes(m.BROKER_QUEUE_DEFAULTS.maxQueuedBytes)}), 0 being no limit; the session of a
  client away longer than --persistent-client-expiration (default ${m.BROKER_QUEUE_DEFAULTS.persistentClientExpiration}, at least 7d) ends
  (docs/messaging.md, broker settings)`;

type Env = Record<string, string | undefined>;

const OPTIONS = {
  dir: { type: 'string' },
  name: { type: 'string' },
  'ca-key-file': { type: 'string' },
  san: { type: 'string' },
  days: { type: 'string' },
  out: { type: 'string' },
  broker: { type: 'string' },
  listen: { type: 'string' },
  persistence: { type: 'string' },
  'install-dir': { type: 'string' },
  'max-queued-messages': { type: 'string' },
  'max-queued-bytes': { type: 'string' },
  'persistent-client-expiration': { type: 'string' },
} as const;

interface PkiArgs {
  action: string | undefined;
  positionals: string[];
  dir: string;
  values: { [K in keyof typeof OPTIONS]?: string };
  env: Env;
}

export async function runPki(argv: string[], env: Env = process.env): Promise<string[]> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [action, ...rest] = positionals;
  const args: PkiArgs = {
    action,
    positionals: rest,
    dir: resolve(values.dir ?? env.IDENTGATE_PKI_DIR ?? 'pki'),
    values,
    env,
  };
  switch (action) {
    case 'init':
      return init(args);
    case 'issue':
      return issue(args);
    case 'csr':
      return csr(args);
    case 'sign':
      return sign(args);
    case 'revoke':
      return revoke(args);
    case 'crl':
      return crl(args);
    case 'list':
      return list(args);
    case 'mosquitto-config':
      return mosquittoConfig(args);
    default:
      throw new UsageError(PKI_USAGE);
  }
}

/** The key-encryption key of the CA key: a 0600 file or IDENTGATE_PKI_CA_KEY. */
function caKey(args: PkiArgs, createIfMissing = false): Buffer {
  const file = args.values['ca-key-file'];
  if (file) {
    if (createIfMissing && !existsSync(file))
      writeFileAtomic(file, `${randomBytes(32).toString('base64')}\n`);
    return parseKey(resolveSecret({ file }, '--ca-key-file', args.env));
  }
  if (args.env.IDENTGATE_PKI_CA_KEY) return parseKey(args.env.IDENTGATE_PKI_CA_KEY);
  throw new UsageError(
    'the CA key is sealed under a key-encryption key: pass --ca-key-file <file> (keep it apart from the pki directory: removable media, a systemd credential) or set IDENTGATE_PKI_CA_KEY',
  );
}

function roleAndName(args: PkiArgs): Identity {
  const [role, name] = args.positionals;
  if (!role || !name || !isRole(role)) throw new UsageError(PKI_USAGE);
  return identityFor(role as Role, name);
}

function sans(args: PkiArgs): string[] {
  return (args.values.san ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function days(args: PkiArgs): number | undefined {
  return args.values.days === undefined ? undefined : Number(args.values.days);
}

// The PKI's X.509 code (and its Reflect polyfill) is loaded by these commands only.
async function openCa(args: PkiArgs) {
  const { SiteCa } = await import('../pki/site-ca.js');
  return SiteCa.open(args.dir, caKey(args));
}

function stemPath(dir: string, identity: Identity): string {
  return join(dir, 'issued', fileStem(identity));
}

async function init(args: PkiArgs): Promise<string[]> {
  const name = args.values.name;
  if (!name)
    throw new UsageError('identgate pki init needs --name "<CA name>", e.g. "Ident Center Berlin CA"');
  const { initSiteCa } = await import('../pki/site-ca.js');
  const cert = await initSiteCa(args.dir, caKey(args, true), { name });
  return [
    `site CA "${name}" created in ${args.dir} (ECDSA P-384, valid until ${cert.notAfter.toISOString().slice(0, 10)})`,
    `  ca.crt          give it to every gateway, workstation, dashboard and broker (tls.ca)`,
    `  ca.key.sealed   the CA key, AES-256-GCM under ${args.values['ca-key-file'] ?? 'IDENTGATE_PKI_CA_KEY'}`,
    `keep the key-encryption key away from this directory (removable media, systemd-creds, a KMS)`,
  ];
}

async function issue(args: PkiArgs): Promise<string[]> {
  const identity = roleAndName(args);
  const ca = await openCa(args);
  const issued = await ca.issueWithNewKey(identity, { sans: sans(args), days: days(args) });
  const stem = stemPath(args.dir, identity);
  writeFileAtomic(`${stem}.key`, issued.keyPem, 0o600);
  writeFileAtomic(`${stem}.crt`, issued.certPem, 0o644);
  return [
    `${identity.cn}: certificate ${issued.entry.serial}, valid until ${issued.entry.notAfter.slice(0, 10)}`,
    `  certificate  ${stem}.crt`,
    `  key          ${stem}.key (mode 0600: move it to the device, then delete it here;`,
    `               \`identgate pki csr\` on the device keeps the key from ever leaving it)`,
    `  CA           ${ca.paths.caCert}`,
    ...configHint(identity),
  ];
}

async function csr(args: PkiArgs): Promise<string[]> {
  const identity = roleAndName(args);
  const out = resolve(args.values.out ?? '.');
  const keyFile = join(out, `${identity.role}.key`);
  const csrFile = join(out, `${identity.role}.csr`);
  if (existsSync(keyFile)) throw new UsageError(`${keyFile} exists; identgate never overwrites a key`);
  const { createRequest } = await import('../pki/site-ca.js');
  const request = await createRequest(identity, sans(args));
  mkdirSync(out, { recursive: true });
  writeFileAtomic(keyFile, request.keyPem, 0o600);
  writeFileAtomic(csrFile, request.csrPem, 0o644);
  return [
    `${identity.cn}: ECDSA P-256 key and certificate request written`,
    `  key  ${keyFile} (mode 0600; it stays on this device)`,
    `  CSR  ${csrFile}: take it to the CA machine and run identgate pki sign ${basename(csrFile)}`,
  ];
}

async function sign(args: PkiArgs): Promise<string[]> {
  const [file] = args.positionals;
  if (!file) throw new UsageError(PKI_USAGE);
  const { parseRequest, requestedCommonName } = await import('../pki/site-ca.js');
  const pem = readFileSync(file, 'utf8');
  const identity = identityOfCommonName(requestedCommonName(parseRequest(pem)));
  const ca = await openCa(args);
  const issued = await ca.signRequest(pem, identity, { sans: sans(args), days: days(args) });
  const target = args.values.out ?? `${stemPath(args.dir, identity)}.crt`;
  writeFileAtomic(target, issued.certPem, 0o644);
  return [
    `${identity.cn}: certificate ${issued.entry.serial}${issued.entry.sans.length > 0 ? ` for ${issued.entry.sans.join(', ')}` : ''}, valid until ${issued.entry.notAfter.slice(0, 10)}`,
    `  certificate  ${target}`,
    `  CA           ${ca.paths.caCert}`,
    'copy both to the device, beside its key',
    ...configHint(identity),
  ];
}

function configHint(identity: Identity): string[] {
  if (identity.role === 'broker') return ['then: identgate pki mosquitto-config --broker <name> --out <dir>'];
  if (identity.role === 'workstation') return [];
  const section = identity.role === 'dashboard' ? 'http.tls and mqtt.tls' : 'mqtt.tls';
  return [
    `configure ${section}: { ca: …/ca.crt, cert: …/${identity.role}.crt, key: { file: …/${identity.role}.key } }`,
    'and regenerate the broker ACL: identgate pki mosquitto-config …',
  ];
}

async function revoke(args: PkiArgs): Promise<string[]> {
  const [which] = args.positionals;
  if (!which) throw new UsageError(PKI_USAGE);
  const ca = await openCa(args);
  const revoked = await ca.revoke(which);
  return [
    ...revoked.map((e) => `revoked ${e.serial} (${e.cn})`),
    `CRL re-signed: ${ca.paths.crl}`,
    'regenerate the broker files (identgate pki mosquitto-config …): the identity leaves the ACL at',
    'once on reload (kill -HUP); the CRL refuses its certificate on the next Mosquitto restart',
  ];
}

async function crl(args: PkiArgs): Promise<string[]> {
  const ca = await openCa(args);
  await ca.writeCrl();
  const { CRL_DAYS } = await import('../pki/site-ca.js');
  return [`CRL re-signed: ${ca.paths.crl} (valid ${CRL_DAYS} days; copy it to the broker)`];
}

async function list(args: PkiArgs): Promise<string[]> {
  const entries = CertificateIndex.load(pkiPaths(args.dir).index).all();
  if (entries.length === 0) return [`no certificates issued from ${args.dir}`];
  const now = Date.now();
  return entries.map((e) => {
    const state = e.status === 'revoked' ? 'revoked' : Date.parse(e.notAfter) < now ? 'expired' : 'valid';
    return `${e.serial}  ${state.padEnd(7)}  ${e.notAfter.slice(0, 10)}  ${e.source.padEnd(6)}  ${e.cn}${e.sans.length > 0 ? `  [${e.sans.join(', ')}]` : ''}`;
  });
}

/** `host:port` or `[v6 address]:port`: the broker's TLS listener, checked before anything is written. */
function listenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65_535)
    throw new UsageError(
      `--listen must be host:port with a port from 1 to 65535 (e.g. 0.0.0.0:8883 or [::]:8883), got ${JSON.stringify(text)}`,
    );
  return { host: (match[1] ?? match[2]) as string, port };
}

async function mosquittoConfig(args: PkiArgs): Promise<string[]> {
  const brokerName = args.values.broker;
  const out = args.values.out;
  if (!brokerName || !out) throw new UsageError(PKI_USAGE);
  const limits = brokerLimits(args.values);
  const { host, port } = listenAddress(args.values.listen ?? '0.0.0.0:8883');
  const paths = pkiPaths(args.dir);
  if (!existsSync(paths.caCert))
    throw new UsageError(`${args.dir} holds no CA; run identgate pki init first`);
  const installDir = resolve(args.values['install-dir'] ?? out);
  const layout = {
    dir: installDir,
    host,
    port,
    persistenceDir: args.values.persistence ?? '/var/lib/mosquitto',
    limits,
  };
  const identities = CertificateIndex.load(paths.index).validIdentities();
  const clients = identities.filter((i) => i.role !== 'broker');
  mkdirSync(out, { recursive: true, mode: 0o750 });
  writeFileAtomic(join(out, m.MOSQUITTO_FILES.conf), m.mosquittoConf(layout), 0o644);
  writeFileAtomic(join(out, m.MOSQUITTO_FILES.acl), m.mosquittoAcl(identities), 0o644);
  writeFileAtomic(join(out, m.MOSQUITTO_FILES.openssl), m.opensslConf(), 0o644);
  writeFileAtomic(join(out, m.MOSQUITTO_FILES.systemd), m.systemdDropIn(layout), 0o644);
  copyFileSync(paths.caCert, join(out, m.MOSQUITTO_FILES.ca));
  copyFileSync(paths.crl, join(out, m.MOSQUITTO_FILES.crl));
  const broker = stemPath(args.dir, identityFor('broker', brokerName));
  const lines = [`Mosquitto files written to ${out} (for ${installDir} on the broker)`];
  if (existsSync(`${broker}.crt`)) copyFileSync(`${broker}.crt`, join(out, m.MOSQUITTO_FILES.cert));
  if (existsSync(`${broker}.key`)) {
    writeFileAtomic(join(out, m.MOSQUITTO_FILES.key), readFileSync(`${broker}.key`), 0o600);
  } else {
    lines.push(
      `  put the broker's key (from identgate pki csr broker ${brokerName}) at ${m.MOSQUITTO_FILES.key}`,
    );
  }
  lines.push(
    `  ACL: ${clients.length} identities (${clients.map((i) => i.cn).join(', ') || 'none'})`,
    `  per client: max_queued_messages ${limits.maxQueuedMessages || '0 (no limit)'}, max_queued_bytes ${limits.maxQueuedBytes} (${m.describeBytes(limits.maxQueuedBytes)}), persistent_client_expiration ${limits.persistentClientExpiration}`,
    `  start Mosquitto with OPENSSL_CONF=${join(installDir, m.MOSQUITTO_FILES.openssl)} (${m.MOSQUITTO_FILES.systemd})`,
    '  the key file must be readable by the mosquitto user only (chown mosquitto, mode 0600)',
  );
  return lines;
}
