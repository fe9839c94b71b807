import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mqttUrl } from './services.js';

/**
 * A dashboard.yaml for the administrative commands against a test database: the URL's password
 * moves to an environment variable (the configuration refuses one inside the URL), `extra` is
 * appended as YAML. Pass `env` to runCli.
 */
export function dashboardConfigFile(
  databaseUrl: string,
  extra = '',
): { file: string; dir: string; env: Record<string, string> } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const dir = mkdtempSync(join(tmpdir(), 'idg-conf-'));
  const file = join(dir, 'dashboard.yaml');
  writeFileSync(
    file,
    `kind: dashboard\ndatabase:\n  url: ${url.toString()}\n${password ? '  password: { env: TEST_DB_PASSWORD }\n' : ''}mqtt:\n  url: ${mqttUrl()}\n${extra}`,
  );
  return { file, dir, env: password ? { TEST_DB_PASSWORD: password } : {} };
}
