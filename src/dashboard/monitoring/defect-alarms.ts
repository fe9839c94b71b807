import type { LiveHub } from '../live-hub.js';
import type { AlarmStore } from '../storage/alarm-store.js';

/**
 * The dashboard's side of reportUnhandledRejections: a critical internal-error alarm raised
 * centrally, once per run of this instance (every occurrence is in the log), and pushed to the
 * live views. A repeat in a later run counts as another occurrence of the same alarm while open.
 */
export function unhandledRejectionReporter(
  alarms: Pick<AlarmStore, 'raiseCentral'>,
  hub: Pick<LiveHub, 'publishAlarms'>,
  instance: string,
): (error: Error) => Promise<void> {
  let raised = false;
  return async (error) => {
    if (raised) return;
    raised = true;
    const changed = await alarms.raiseCentral({
      alarm: 'internal-error',
      key: 'unhandled-rejection',
      severity: 'critical',
      detail:
        `dashboard instance ${instance}: a promise rejection no code handled (a defect; the dashboard keeps running, later ones are only logged): ${error.message}`.slice(
          0,
          500,
        ),
    });
    hub.publishAlarms(changed);
  };
}
