// A gateway in a process of its own, for tests that kill it. Configuration comes as JSON in
// IDG_CHILD_CONFIG; IDG_BURST events are recorded after start. Prints `resent <n>` (events found
// unacknowledged in the outbox) and `ready <seq>` once started, and `durable <seq> <id>` for
// every event that reached the outbox on disk.
import { Gateway } from '../../src/gateway/gateway.js';
import { testLogger } from './services-logger.js';

const config = JSON.parse(process.env.IDG_CHILD_CONFIG ?? '{}');
const burst = Number(process.env.IDG_BURST ?? '0');
const gateway = new Gateway({ config, log: testLogger() });
gateway.bus.on('child', 'durable', (e) => process.stdout.write(`durable ${e.seq} ${e.id}\n`));
await gateway.start();
process.stdout.write(`resent ${gateway.resentAtStart}\n`);
process.stdout.write(`ready ${gateway.lastSequence}\n`);
for (let i = 0; i < burst; i++) {
  gateway.record({ kind: 'door.locked', data: { door: 'main' } });
  if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write('burst-done\n');
process.on('SIGTERM', () => {
  gateway.stop().then(() => process.exit(0));
});
