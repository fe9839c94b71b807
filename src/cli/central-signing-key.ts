import type { KeyObject } from 'node:crypto';
import { DashboardConfig } from '../config/dashboard-config.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import { KeyRing } from '../lib/key-ring.js';
import { loadSigningKey } from './keygen-command.js';
import { loadMasterKeys } from './keys-command.js';

/** The central signing key named by a dashboard configuration file (keys.signing), if it names one. */
export function centralSigningKey(configFile: string): KeyObject | undefined {
  const config = loadConfigFile(configFile, DashboardConfig);
  if (!config.keys.signing) return undefined;
  const master = loadMasterKeys(config);
  return loadSigningKey(
    resolveSecret(config.keys.signing, 'keys.signing'),
    master ? new KeyRing(master.current, master.decryptOnly) : undefined,
  );
}
