import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DashboardConfig } from '../config/dashboard-config.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import type { Gateway } from '../gateway/gateway.js';
import { videoSiteKeys } from '../gateway/recorder/site-keys.js';
import { keyId, parseKey } from '../lib/aead.js';
import { CodedError } from '../lib/coded-error.js';
import { KeyRing } from '../lib/key-ring.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { UsageError } from './cli-error.js';
import { isSealed, SIGNING_KEY_CONTEXT } from './keygen-command.js';

export const KEYS_USAGE = `usage (rotating the master key, docs/security.md):
  identgate keys rotate-master --config <dashboard.yaml> [--new <key file>] [--batch 100]
      re-seals every value under keys.master (or under the key in --new), opening old values with
      keys.master and keys.masterDecryptOnly; dashboards keep running and take new keys on SIGHUP
  identgate keys id <key file>      the id a key is named by in sealed values`;

type Env = Record<string, string | undefined>;

/** The dashboard's master keys from its configuration: the current one and the decrypt-only ones. */
export function loadMasterKeys(
  config: DashboardConfig,
  env: Env = process.env,
): { current: Buffer; decryptOnly: Buffer[] } | undefined {
  if (!config.keys.master) return undefined;
  return {
    current: parseKey(resolveSecret(config.keys.master, 'keys.master', env)),
    decryptOnly: (config.keys.masterDecryptOnly ?? []).map((ref, i) =>
      parseKey(resolveSecret(ref, `keys.masterDecryptOnly[${i}]`, env)),
    ),
  };
}

/**
 * On SIGHUP the dashboard re-reads its configuration file and takes the master keys in it, so
 * that a rotation needs no restart. A file that no longer loads keeps the old keys (and says so).
 */
export function reloadMasterKeysOnHangup(
  target: { reloadMasterKeys(current: Buffer, decryptOnly: Buffer[]): void },
  configFile: string,
  log: Logger,
): void {
  process.on('SIGHUP', () => {
    try {
      const keys = loadMasterKeys(loadConfigFile(configFile, DashboardConfig));
      if (!keys) throw new CodedError('IDG_NO_MASTER_KEY', `${configFile} has no keys.master any more`);
      target.reloadMasterKeys(keys.current, keys.decryptOnly);
      log.info(
        { current: keyId(keys.current), decryptOnly: keys.decryptOnly.map(keyId) },
        'master keys reloaded',
      );
    } catch (error) {
      log.error({ err: error }, 'SIGHUP: master keys not reloaded; the previous keys stay in use');
    }
  });
}

/** The gateway's state keys from its configuration (undefined: the default key file is used). */
export function loadGatewayStateKeys(
  config: GatewayConfig,
  env: Env = process.env,
): { current: Buffer; decryptOnly: Buffer[] } | undefined {
  if (!config.credentialKey) return undefined;
  return {
    current: parseKey(resolveSecret(config.credentialKey, 'credentialKey', env)),
    decryptOnly: (config.credentialKeyDecryptOnly ?? []).map((ref, i) =>
      parseKey(resolveSecret(ref, `credentialKeyDecryptOnly[${i}]`, env)),
    ),
  };
}

/**
 * On SIGHUP the gateway re-reads its configuration file, takes the state and video site keys in
 * it and re-seals its files under them while it keeps deciding at the doors.
 */
export function reloadGatewayKeysOnHangup(gateway: Gateway, configFile: string, log: Logger): void {
  process.on('SIGHUP', () => {
    try {
      const config = loadConfigFile(configFile, GatewayConfig);
      const result = gateway.reloadKeys({
        state: loadGatewayStateKeys(config),
        video: config.video.siteKey ? videoSiteKeys(config.video, config.stateDir) : undefined,
      });
      log.info(result, 'gateway keys reloaded; files re-sealed under the current keys');
      if (result.videoUnreadable.length > 0) {
        log.error({ unreadable: result.videoUnreadable }, 'day keys no configured site key opens');
      }
    } catch (error) {
      log.error({ err: error }, 'SIGHUP: gateway keys not reloaded; the previous keys stay in use');
    }
  });
}

/** A central signing key file sealed under the master key (keygen --seal-with) moves to the new key too. */
function resealSigningKeyFile(config: DashboardConfig, ring: KeyRing): string[] {
  const ref = config.keys.signing;
  if (!ref || !('file' in ref)) return [];
  const text = readFileSync(ref.file, 'utf8');
  if (!isSealed(text) || ring.isCurrent(text.trim())) return [];
  const pem = ring.open(text.trim(), SIGNING_KEY_CONTEXT);
  writeFileAtomic(ref.file, `${ring.seal(pem, SIGNING_KEY_CONTEXT)}\n`);
  pem.fill(0);
  return [`keys.signing (${ref.file}) re-sealed under key ${ring.currentId}`];
}

export async function runKeys(argv: string[], env: Env = process.env): Promise<string[]> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { config: { type: 'string' }, new: { type: 'string' }, batch: { type: 'string' } },
  });
  const [action, file] = positionals;
  if (action === 'id' && file) return [keyId(parseKey(resolveSecret({ file }, file, env)))];
  if (action !== 'rotate-master' || !values.config) throw new UsageError(KEYS_USAGE);
  const config = loadConfigFile(values.config, DashboardConfig, { env });
  const keys = loadMasterKeys(config, env);
  if (!keys) throw new UsageError(`${values.config} has no keys.master: there is nothing to rotate`);
  const ring = values.new
    ? new KeyRing(parseKey(resolveSecret({ file: values.new }, '--new', env)), [
        keys.current,
        ...keys.decryptOnly,
      ])
    : new KeyRing(keys.current, keys.decryptOnly);
  const signingLine = resealSigningKeyFile(config, ring);
  const { createPool } = await import('../dashboard/storage/database.js');
  const { rotateMasterKey } = await import('../dashboard/storage/master-key-rotation.js');
  const { prepareTombstoneKey } = await import('../dashboard/retention/tombstone-key.js');
  const { silentLogger } = await import('../lib/logger.js');
  const password = config.database.password
    ? resolveSecret(config.database.password, 'database.password', env)
    : undefined;
  const pool = createPool({ ...config.database, poolSize: 2 }, password, silentLogger);
  try {
    // A tombstones' key no dashboard with master keys has sealed yet is sealed now (tombstone-key.ts).
    await prepareTombstoneKey(pool, ring, silentLogger);
    const report = await rotateMasterKey(pool, ring, {
      batchSize: values.batch ? Number(values.batch) : 100,
    });
    const others = Object.entries(report.byKey).filter(([id]) => id !== ring.currentId);
    const lines = [
      `re-sealed ${report.resealed} value(s) under key ${ring.currentId}${report.skipped > 0 ? ` (${report.skipped} changed meanwhile by a dashboard)` : ''}`,
      ...Object.entries(report.byKey).map(([id, n]) => `  key ${id}: ${n} value(s)`),
      ...report.unreadable.map((u) => `  unreadable with every configured key: ${u}`),
    ];
    if (report.unreadable.length > 0 || others.length > 0) {
      throw new CodedError(
        'IDG_ROTATION_INCOMPLETE',
        `${lines.join('\n')}\nvalues remain under other keys: a dashboard may still seal under an old key (make the new key keys.master there, kill -HUP it) — then run this again`,
      );
    }
    return [
      ...lines,
      ...signingLine,
      'no value is sealed under another key: the old key can be removed from keys.masterDecryptOnly',
    ];
  } finally {
    await pool.end();
  }
}
