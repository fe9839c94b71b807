import { createLogger, type Logger, silentLogger } from '../../src/lib/logger.js';

/** Silent, unless IDG_DEBUG is set: then readable lines on stderr, for looking into a failing test. */
export function testLogger(): Logger {
  return process.env.IDG_DEBUG
    ? createLogger({ level: 'debug', format: 'pretty', write: (line) => process.stderr.write(`${line}\n`) })
    : silentLogger;
}
