import type { KeyObject } from 'node:crypto';
import { DashboardConfig } from '../config/dashboard-config.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import { centralKeysFromConfig, type RetiredKey } from '../dashboard/audit/central-keys.js';
import { KeyRing } from '../lib/key-ring.js';
import { loadSigningKey } from './keygen-command.js';
import { loadMasterKeys } from './keys-command.js';

/** The central signing key named by a dashboard configuration file (keys.signing), if it names one. */
export function centralSigningKey(configFile: string): KeyObject | undefined {
  return centralSigning(configFile).key;
}

/**
 * keys.signing (if configured) and the keys it replaced (keys.retiredSigning), which the
 * verifiers accept for what they signed while in use (dashboard/audit/central-keys.ts).
 */
export function centralSigning(configFile: string): { key?: KeyObject; retired: readonly RetiredKey[] } {
  const config = loadConfigFile(configFile, DashboardConfig);
  if (!config.keys.signing) return { retired: centralKeysFromConfig(config.keys, undefined).retired };
  const master = loadMasterKeys(config);
  const key = loadSigningKey(
    resolveSecret(config.keys.signing, 'keys.signing'),
    master ? new KeyRing(master.current, master.decryptOnly) : undefined,
  );
  return { key, retired: centralKeysFromConfig(config.keys, key).retired };
}
