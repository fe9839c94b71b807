import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Envelope } from '../protocol/envelope.js';
import type { VideoEventData } from '../protocol/video-event-kinds.js';
import type { RuntimeDoor } from './door-runtime.js';
import type { Recorder } from './recorder/recorder.js';

/**
 * What a recorded event means for video: footage is linked to the door events worth seeing, and
 * the recorder's conditions (a camera down, the disk filling) become alarms.
 */
export function followUpVideo(
  event: Envelope,
  alarms: AlarmBook,
  recorder: Recorder | undefined,
  doors: ReadonlyMap<string, RuntimeDoor>,
): void {
  const link = (room: string | undefined) => {
    void recorder?.linkFootage(Date.parse(event.time), event.id, room ? { room } : {});
  };
  switch (event.kind) {
    case 'door.forced':
    case 'door.held-open':
    case 'access.denied':
      link(doors.get(event.data.door)?.room);
      break;
    case 'alarm.raised':
      if (event.data.alarm === 'duress') link(event.data.room);
      break;
    case 'camera.down':
      alarms.raise({
        alarm: 'camera-down',
        key: `camera-down:${event.data.camera}`,
        severity: 'critical',
        detail: `${event.data.camera}: ${event.data.reason}`,
      });
      break;
    case 'camera.up':
      alarms.clear(`camera-down:${event.data.camera}`, 'recording again');
      break;
    case 'video.segment-rejected':
      // Footage is being lost, although the camera may report up: a segment that cannot be
      // stored (kept for another try, or deleted), or one that is not playable.
      alarms.raise({
        alarm: 'video-storage-failed',
        key: `video-storage-failed:${event.data.camera}`,
        severity: 'critical',
        detail: `${event.data.camera}: ${event.data.detail}`.slice(0, 500),
      });
      break;
    case 'video.segment':
      alarms.clear(`video-storage-failed:${event.data.camera}`, 'a segment was stored again');
      break;
    case 'video.disk-pressure':
      diskPressure(event.data, alarms);
      break;
    case 'video.reconcile-refused':
      alarms.notify({
        alarm: 'video-reconcile-refused',
        key: `video-reconcile-refused:${event.id}`,
        severity: 'warning',
        detail: `${event.data.orphanFiles} files without index rows, ${event.data.missingFiles} rows without files`,
      });
      break;
    default:
      break;
  }
}

const mib = (bytes: number) => Math.round(bytes / 1_048_576);

/**
 * Footage deleted for space went before its retention period, so every pruning is an alarm
 * (docs/video.md, disk pressure): held while the disk stays short (only footage under a legal
 * hold was left), raised and cleared at once when the pruning freed enough, so that staff see
 * and acknowledge it. Critical when footage linked to door events (evidence) was deleted.
 */
function diskPressure(data: VideoEventData<'video.disk-pressure'>, alarms: AlarmBook): void {
  const key = 'video-disk-pressure';
  const linked = data.deletedLinked > 0 ? `, ${data.deletedLinked} of them linked to door events` : '';
  const deleted = `${data.deletedFiles} files (${mib(data.freedBytes)} MiB) deleted before their retention${linked}`;
  const short = `${mib(data.freeBytes)} MiB were free, below ${mib(data.thresholdBytes)} MiB`;
  if (data.resolved && data.deletedFiles === 0) {
    alarms.clear(key, 'enough free space again');
    return;
  }
  alarms.raise({
    alarm: 'video-disk-pressure',
    key,
    severity: data.deletedLinked > 0 ? 'critical' : 'warning',
    detail: data.resolved
      ? `${short}: ${deleted}`
      : `${short}, and only footage under a legal hold is left: ${deleted}`,
  });
  if (data.resolved) alarms.clear(key, `enough free space again: ${deleted}`);
}
