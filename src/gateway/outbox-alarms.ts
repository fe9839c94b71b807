import type { AlarmBook } from '../controllers/alarm-book.js';
import type { OutboxPressure } from './outbox/outbox-journal.js';

/**
 * The alarms that tell officers about the outbox: it cannot write, it is filling up, or events in
 * it are lost for good.
 */

/** The outbox's disk refuses writes: events wait in memory, unpublished, until it recovers. */
export function outboxWriteFailed(alarms: AlarmBook, error: Error, waiting: number): void {
  alarms.raise({
    alarm: 'outbox-write-failed',
    key: 'outbox-write-failed',
    severity: 'critical',
    detail: `the outbox cannot write (${error.message}); ${waiting} events wait in memory, unpublished`.slice(
      0,
      500,
    ),
  });
}

/** Events the outbox will never publish: a critical alarm names them (central sees the gap too). */
export function eventsLost(alarms: AlarmBook, fromSeq: number, toSeq: number, why: string): void {
  alarms.notify({
    alarm: 'events-lost',
    key: `events-lost:${fromSeq}-${toSeq}`,
    severity: 'critical',
    detail: `events ${fromSeq}-${toSeq} are lost: ${why}`,
  });
}

/** Warns well before the outbox's hard bound (see outboxFillingAlarm). */
export function checkOutboxPressure(alarms: AlarmBook, pressure: OutboxPressure): void {
  const due = outboxFillingAlarm(pressure);
  for (const severity of ['warning', 'critical'] as const) {
    if (due?.severity !== severity) alarms.clear(`outbox-filling:${severity}`);
  }
  if (due) {
    alarms.raise({
      alarm: 'outbox-filling',
      key: `outbox-filling:${due.severity}`,
      severity: due.severity,
      detail: due.detail,
    });
  }
}

/**
 * The `outbox-filling` alarm the outbox's state calls for: a warning at half the hard bound or
 * when the oldest unsent event is 12 hours old, critical at 80 % of the bound or 48 hours; none
 * below. Unsent events are never dropped for their age, only at the size bound.
 */
export function outboxFillingAlarm(
  pressure: OutboxPressure,
): { severity: 'warning' | 'critical'; detail: string } | undefined {
  const hours = pressure.oldestMs / 3_600_000;
  const severity =
    pressure.fraction >= 0.8 || hours >= 48
      ? 'critical'
      : pressure.fraction >= 0.5 || hours >= 12
        ? 'warning'
        : undefined;
  if (!severity) return undefined;
  const detail = `${pressure.records} events (${Math.round(pressure.bytes / 1024)} KiB, ${Math.round(pressure.fraction * 100)} % of the bound) not yet acknowledged; oldest ${Math.round(pressure.oldestMs / 60_000)} min`;
  return { severity, detail };
}
