import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Envelope } from '../protocol/envelope.js';

/**
 * The alarms of the recorder's housekeeping and integrity checks: retention that fails or is
 * paused (conditions, cleared when it works again), footage that is not what was recorded and
 * footage recorded under a wrong clock (incidents, for staff to resolve).
 */
export function followUpVideoHousekeeping(event: Envelope, alarms: AlarmBook): void {
  switch (event.kind) {
    case 'video.retention-failed': {
      if (event.data.resolved) {
        alarms.clear('video-retention-failed', 'a retention run did everything due');
        break;
      }
      const first = event.data.failures[0];
      const where = first
        ? `${[first.camera, first.day].filter(Boolean).join('/')} ${first.step}: ${first.detail}`
        : '';
      alarms.raise({
        alarm: 'video-retention-failed',
        key: 'video-retention-failed',
        severity: 'warning',
        detail: `${event.data.failed} deletions undone, footage or keys stay past retention; ${where}`.slice(
          0,
          500,
        ),
      });
      break;
    }
    case 'video.retention-paused':
      if (event.data.resolved) alarms.clear('video-retention-paused', 'the clock is synchronised again');
      else
        alarms.raise({
          alarm: 'video-retention-paused',
          key: 'video-retention-paused',
          severity: 'warning',
          detail: 'the clock is not synchronised: no footage is deleted by age until it is',
        });
      break;
    case 'video.tampered':
      alarms.notify({
        alarm: 'video-tampered',
        key: `video-tampered:${event.data.camera}:${event.data.day}:${event.data.file}`.slice(0, 200),
        severity: 'critical',
        detail: `${event.data.camera}/${event.data.day}/${event.data.file}: ${event.data.detail}`.slice(
          0,
          500,
        ),
      });
      break;
    case 'video.footage-misdated':
      alarms.notify({
        alarm: 'video-footage-misdated',
        key: `video-footage-misdated:${event.data.camera}:${event.data.day}:${event.id}`.slice(0, 200),
        severity: 'warning',
        detail:
          `${event.data.files} files of ${event.data.camera} recorded under an unsynchronised clock are filed under ${event.data.day}; retention counts them as ending ${event.data.from} – ${event.data.to} (${event.data.basis})`.slice(
            0,
            500,
          ),
      });
      break;
    default:
      break;
  }
}
