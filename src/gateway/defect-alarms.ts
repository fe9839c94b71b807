import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Logger } from '../lib/logger.js';
import { reportUnhandledRejections } from '../lib/unhandled-rejections.js';

/** How the gateway process (and the demo) meets a rejection no code handled; returns the undo. */
export function reportGatewayDefects(alarms: AlarmBook, log: Logger): () => void {
  return reportUnhandledRejections(log, (error) => unhandledRejectionAlarm(alarms, error));
}

/**
 * A rejection no code handled (see reportUnhandledRejections): one critical internal-error alarm
 * per run, so that a defect repeating with every chunk or segment does not flood the outbox; each
 * occurrence is in the log. Staff resolve it once the defect has been dealt with.
 */
export function unhandledRejectionAlarm(alarms: AlarmBook, error: Error): void {
  alarms.raise({
    alarm: 'internal-error',
    key: 'unhandled-rejection',
    severity: 'critical',
    detail:
      `a promise rejection no code handled (a defect; the gateway keeps running, later ones are only logged): ${error.message}`.slice(
        0,
        500,
      ),
  });
}
