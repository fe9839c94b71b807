import { userInfo } from 'node:os';
import type pg from 'pg';
import { ConfigError, ConfigErrorCode } from '../config/config-error.js';
import { DashboardConfig, retentionSettings } from '../config/dashboard-config.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import { centralKeysFromConfig } from '../dashboard/audit/central-keys.js';
import { ALARMS_CHANNEL, alarmNotices } from '../dashboard/cluster-channels.js';
import { WorkstationAuditExpiry } from '../dashboard/presence/workstation-audit-expiry.js';
import type { ErasureKeys } from '../dashboard/retention/person-erasure.js';
import { RetentionService } from '../dashboard/retention/retention-service.js';
import { prepareTombstoneKey } from '../dashboard/retention/tombstone-key.js';
import { createPool } from '../dashboard/storage/database.js';
import { SEALED_COLUMNS } from '../dashboard/storage/master-key-rotation.js';
import { migrate } from '../dashboard/storage/migrator.js';
import { systemClock } from '../lib/clock.js';
import { KeyRing } from '../lib/key-ring.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { UsageError } from './cli-error.js';
import { loadSigningKey } from './keygen-command.js';
import { loadMasterKeys } from './keys-command.js';

/**
 * The central database for the administrative commands (`retention …`, `people erase`,
 * `gateways …`): opened
 * from the dashboard's configuration, migrated like the dashboard would, closed afterwards.
 * These commands log warnings only, to stderr; their stdout is the answer.
 */
export interface AdminDatabase {
  config: DashboardConfig;
  pool: pg.Pool;
  retention: RetentionService;
  log: Logger;
  /** keys.master, where the command asked for it (AdminDatabaseOptions). */
  masterKeys?: KeyRing;
}

export interface AdminDatabaseOptions {
  /** The command erases: it needs keys.master (the tombstones' key) and signs with keys.signing. */
  erasureKeys?: boolean;
  /** The command seals a secret under keys.master (an agent's TOTP secret): it needs it. */
  masterKeys?: boolean;
}

export async function withDashboardDatabase<T>(
  configFile: string | undefined,
  command: string,
  work: (db: AdminDatabase) => Promise<T>,
  options: AdminDatabaseOptions = {},
): Promise<T> {
  if (!configFile) throw new UsageError(`identgate ${command} needs --config <dashboard.yaml>`);
  const config = loadConfigFile(configFile, DashboardConfig);
  // Before the database is opened: a key that does not load stops the command with its reason.
  const keys = options.erasureKeys
    ? erasureKeys(config, configFile, command)
    : options.masterKeys
      ? { masterKeys: requiredMasterKeys(config, configFile, command) }
      : {};
  const log = createLogger({ level: 'warn', write: (line) => process.stderr.write(`${line}\n`) });
  const pool = createPool(
    config.database,
    config.database.password ? resolveSecret(config.database.password, 'database.password') : undefined,
    log,
  );
  try {
    await migrate(pool, log);
    const retention = new RetentionService({
      pool,
      clock: systemClock,
      log,
      settings: retentionSettings(config),
      ...keys,
    });
    // Before anything is sealed or prepared with it: a key that is not the dashboards' would seal
    // values they cannot open (and with an agent's secret, stop the publishing of their sites).
    if (keys.masterKeys) await assertDashboardsKey(pool, keys.masterKeys, configFile, command);
    if (keys.masterKeys) await prepareTombstoneKey(pool, keys.masterKeys, log);
    retention.register(new WorkstationAuditExpiry(pool));
    return await work({
      config,
      pool,
      retention,
      log,
      ...(keys.masterKeys ? { masterKeys: keys.masterKeys } : {}),
    });
  } finally {
    await pool.end();
  }
}

/**
 * The keys of an erasure from the configuration, as the dashboard loads them: the master keys
 * (required: the tombstones' key is sealed under them) and the central signing key, if
 * configured (it signs the list of erased chain rows), which may itself be sealed under them.
 */
function erasureKeys(config: DashboardConfig, configFile: string, command: string): ErasureKeys {
  const masterKeys = requiredMasterKeys(config, configFile, command, "to open the erasure tombstones' key");
  if (!config.keys.signing) return { masterKeys };
  const signingKey = loadSigningKey(resolveSecret(config.keys.signing, 'keys.signing'), masterKeys);
  return { masterKeys, signingKey, retiredKeys: centralKeysFromConfig(config.keys, signingKey).retired };
}

/**
 * Refuses a master key whose current key — the one that seals — opens none of the values the
 * database holds sealed: it is not the key the dashboards seal with (another file, a wrong path, a
 * key from another installation, or the right key listed only as decrypt-only). One value per
 * sealed column is tried, one that names the current key where values name theirs; a database
 * with none sealed yet accepts any key. During a rotation, before `identgate keys rotate-master`
 * has re-sealed anything under the new key, this refuses too: run it first.
 */
async function assertDashboardsKey(pool: pg.Pool, ring: KeyRing, configFile: string, command: string) {
  const current = ring.currentOnly();
  let sealed = 0;
  for (const { table, id, column, context } of SEALED_COLUMNS) {
    // One value, one the current key may open where there is such (a v1 value names no key).
    const { rows } = await pool.query<{ id: string; sealed: string; candidate: boolean }>(
      `SELECT ${id}::text AS id, ${column} AS sealed,
              (${column} LIKE 'v1.%' OR split_part(${column}, '.', 2) = $1) AS candidate
         FROM ${table} WHERE ${column} IS NOT NULL
        ORDER BY candidate DESC LIMIT 1`,
      [current.currentId],
    );
    const row = rows[0];
    if (!row) continue;
    sealed += 1;
    if (!row.candidate) continue;
    try {
      current.open(row.sealed, context(row.id));
      return;
    } catch {
      // The next column may hold one the current key opens.
    }
  }
  if (sealed > 0)
    throw new ConfigError(
      configFile,
      [
        `keys.master's current key opens none of the values the database holds sealed: it is not the key the dashboards seal with, and identgate ${command} would seal what they cannot open (during a rotation, run identgate keys rotate-master first)`,
      ],
      ConfigErrorCode.secret,
    );
}

function requiredMasterKeys(
  config: DashboardConfig,
  configFile: string,
  command: string,
  why = 'to seal the secret',
): KeyRing {
  const master = loadMasterKeys(config);
  if (!master) {
    throw new ConfigError(
      configFile,
      [`keys.master is not set: identgate ${command} needs it ${why}`],
      ConfigErrorCode.secret,
    );
  }
  return new KeyRing(master.current, master.decryptOnly);
}

/** Who the audit log names for a command line action: `cli:<operating-system user>`. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    // A container user without a passwd entry still has a uid. Not $USER: anyone can set it, and
    // the actor decides which alarms the command may confirm.
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/**
 * Tells the running dashboards something a command changed, one notice per payload on `channel`
 * (cluster-channels.ts). A dashboard that misses a notice catches up at its next refresh, so a
 * failure is a warning saying how: `otherwise`.
 */
export async function tellDashboards(
  { pool, log }: Pick<AdminDatabase, 'pool' | 'log'>,
  channel: string,
  notices: Iterable<string>,
  otherwise: string,
): Promise<void> {
  for (const notice of notices) {
    await pool.query('SELECT pg_notify($1, $2)', [channel, notice]).catch((error: Error) => {
      log.warn({ err: error, channel }, `could not tell the running dashboards; ${otherwise}`);
    });
  }
}

/** These alarms changed: each dashboard re-reads them and shows them to its live clients. */
export function announceAlarms(
  db: Pick<AdminDatabase, 'pool' | 'log'>,
  ids: readonly number[],
): Promise<void> {
  return tellDashboards(
    db,
    ALARMS_CHANNEL,
    alarmNotices(`cli-${process.pid}`, ids),
    'they show the alarms at their next refresh',
  );
}
