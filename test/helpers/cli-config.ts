import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mqttUrl } from './services.js';

/**
 * A dashboard configuration file for the administrative commands (`identgate alarms`, `user`):
 * the test database and broker. Answers the file's path.
 */
export function dashboardConfigFile(databaseUrl: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'idg-cli-config-')), 'dashboard.yaml');
  writeFileSync(file, `kind: dashboard\ndatabase:\n  url: ${databaseUrl}\nmqtt:\n  url: ${mqttUrl()}\n`);
  return file;
}
