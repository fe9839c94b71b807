import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mqttUrl } from './services.js';

/**
 * A dashboard configuration file for the administrative commands (`identgate alarms`, `user`,
 * `agent`): the test database and broker and, where given, the master key (in a file of its own,
 * as an operator keeps it). Answers the file's path.
 */
export function dashboardConfigFile(
  databaseUrl: string,
  options: { masterKey?: Buffer; decryptOnly?: Buffer } = {},
): string {
  const dir = mkdtempSync(join(tmpdir(), 'idg-cli-config-'));
  const file = join(dir, 'dashboard.yaml');
  let keys = '';
  if (options.masterKey) {
    const keyFile = join(dir, 'master.key');
    writeFileSync(keyFile, `${options.masterKey.toString('base64')}\n`, { mode: 0o600 });
    keys = `keys:\n  master: { file: ${keyFile} }\n`;
    if (options.decryptOnly) {
      const oldFile = join(dir, 'master-old.key');
      writeFileSync(oldFile, `${options.decryptOnly.toString('base64')}\n`, { mode: 0o600 });
      keys += `  masterDecryptOnly: [{ file: ${oldFile} }]\n`;
    }
  }
  writeFileSync(
    file,
    `kind: dashboard\ndatabase:\n  url: ${databaseUrl}\nmqtt:\n  url: ${mqttUrl()}\n${keys}`,
  );
  return file;
}
