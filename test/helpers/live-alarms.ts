import type { AlarmView } from '../../src/dashboard/http/schemas.js';
import type { LiveHub } from '../../src/dashboard/live-hub.js';

/**
 * The alarm changes a dashboard's hub pushes to its live clients, collected as a browser's
 * stream would receive them, until `stop()`.
 */
export function watchAlarms(hub: LiveHub): { seen: AlarmView[]; stop: () => void } {
  const seen: AlarmView[] = [];
  const stop = hub.subscribe({
    push: () => true,
    pushAlarms: (alarms) => {
      seen.push(...alarms);
      return true;
    },
    close: () => undefined,
  });
  return { seen, stop: () => void stop() };
}
