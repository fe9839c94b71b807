import { describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { followUpVideo } from '../../../src/gateway/video-follow-up.js';
import type { Envelope } from '../../../src/protocol/envelope.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import type { VideoEventData, VideoEventKind } from '../../../src/protocol/video-event-kinds.js';

/** The alarm events the book emits while the recorder's events are followed up. */
function rig() {
  const emitted: EventBody[] = [];
  const book = new AlarmBook((event) => emitted.push(event));
  let n = 0;
  const follow = <K extends VideoEventKind>(kind: K, data: VideoEventData<K>) => {
    n += 1;
    const event = { kind, data, id: `e${n}`, time: '2026-03-01T08:00:00.000Z' } as unknown as Envelope;
    followUpVideo(event, book, undefined, new Map());
  };
  const alarms = () => emitted.map((e) => [e.kind, 'key' in e.data ? e.data.key : undefined]);
  return { emitted, book, follow, alarms };
}

describe('video follow-up: footage that cannot be stored', () => {
  it('raises a critical alarm per camera at the first rejected segment, once', () => {
    const { emitted, follow, alarms } = rig();
    follow('video.segment-rejected', { camera: 'cam-1', file: 'a.mp4', detail: 'EROFS; kept in the spool' });
    follow('video.segment-rejected', { camera: 'cam-1', file: 'b.mp4', detail: 'EROFS; kept in the spool' });
    follow('video.segment-rejected', { camera: 'cam-2', file: 'c.mp4', detail: 'EROFS; kept in the spool' });
    expect(alarms()).toEqual([
      ['alarm.raised', 'video-storage-failed:cam-1'],
      ['alarm.raised', 'video-storage-failed:cam-2'],
    ]);
    expect(emitted[0]?.data).toEqual({
      alarm: 'video-storage-failed',
      key: 'video-storage-failed:cam-1',
      severity: 'critical',
      detail: 'cam-1: EROFS; kept in the spool',
    });
  });

  it("clears a camera's alarm with the next segment stored for it", () => {
    const { follow, alarms } = rig();
    follow('video.segment-rejected', { camera: 'cam-1', file: 'a.mp4', detail: 'EROFS' });
    const segment = (camera: string) => ({
      id: `${camera}/2026-03-01/x.mp4.idgv`,
      camera,
      start: '2026-03-01T08:00:00.000Z',
      end: '2026-03-01T08:01:00.000Z',
      bytes: 1,
      keyId: `${camera}/2026-03-01`,
    });
    follow('video.segment', segment('cam-2'));
    follow('video.segment', segment('cam-1'));
    follow('video.segment', segment('cam-1'));
    expect(alarms()).toEqual([
      ['alarm.raised', 'video-storage-failed:cam-1'],
      ['alarm.cleared', 'video-storage-failed:cam-1'],
    ]);
  });
});
