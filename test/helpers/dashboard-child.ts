// A dashboard in a process of its own, for tests that kill it. Configuration comes as JSON in
// IDG_CHILD_CONFIG; gateways to trust in IDG_CHILD_TRUST. Prints `ready` once it ingests.
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { silentLogger } from '../../src/lib/logger.js';

const config = JSON.parse(process.env.IDG_CHILD_CONFIG ?? '{}');
const dashboard = new Dashboard({ config, log: silentLogger });
await dashboard.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  dashboard.stop().then(() => process.exit(0));
});
