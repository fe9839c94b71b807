// A process that meets rejections no code handles with the gateway's handler installed, as
// `identgate gateway` installs it. Prints every event the alarm book emits as `event <json>`,
// every log line as `log <json>`, then `alive` once the rejections are past; exits 0.
import { AlarmBook } from '../../src/controllers/alarm-book.js';
import { reportGatewayDefects } from '../../src/gateway/defect-alarms.js';
import { createLogger } from '../../src/lib/logger.js';

const log = createLogger({
  level: 'info',
  format: 'json',
  write: (line) => process.stdout.write(`log ${line}\n`),
});
const alarms = new AlarmBook((event) => process.stdout.write(`event ${JSON.stringify(event)}\n`));
if (process.env.IDG_INSTALL_HANDLER !== 'no') reportGatewayDefects(alarms, log);
void Promise.reject(new Error('a chunk publish nobody awaited'));
void Promise.reject(new Error('another one'));
// Node reports unhandled rejections once the microtask queue is empty, before the next phase.
setImmediate(() => {
  process.stdout.write('alive\n');
  process.exit(0);
});
