// A dashboard in a process of its own, for tests that kill it. Configuration comes as JSON in
// IDG_CHILD_CONFIG (keys.signing may name a PEM file). Prints `ready` once it ingests.
import { loadSigningKey } from '../../src/cli/keygen-command.js';
import { resolveSecret } from '../../src/config/load-config.js';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { testLogger } from './services-logger.js';

const config = JSON.parse(process.env.IDG_CHILD_CONFIG ?? '{}');
const signing = config.keys?.signing
  ? loadSigningKey(resolveSecret(config.keys.signing, 'keys.signing'))
  : undefined;
const dashboard = new Dashboard({
  config,
  log: testLogger(),
  ...(signing ? { signingKey: signing } : {}),
  gapScanMs: 500,
  gapGraceMs: 1000,
  gapResendMs: 3000,
});
await dashboard.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  dashboard.stop().then(() => process.exit(0));
});
