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

describe('video follow-up: footage deleted for disk space', () => {
  const pressure = (more: Partial<VideoEventData<'video.disk-pressure'>>) => ({
    freeBytes: 100 * 1_048_576,
    totalBytes: 10_000 * 1_048_576,
    thresholdBytes: 500 * 1_048_576,
    freedBytes: 450 * 1_048_576,
    deletedFiles: 4,
    deletedLinked: 0,
    resolved: true,
    ...more,
  });

  it('raises (and at once clears) a critical alarm when event-linked footage was deleted', () => {
    const { emitted, follow, alarms } = rig();
    follow('video.disk-pressure', pressure({ deletedLinked: 3 }));
    expect(alarms()).toEqual([
      ['alarm.raised', 'video-disk-pressure'],
      ['alarm.cleared', 'video-disk-pressure'],
    ]);
    expect(emitted[0]?.data).toMatchObject({
      severity: 'critical',
      detail:
        '100 MiB were free, below 500 MiB: 4 files (450 MiB) deleted before their retention, 3 of them linked to door events',
    });
  });

  it('raises a warning when only footage no event refers to was deleted', () => {
    const { emitted, follow, alarms } = rig();
    follow('video.disk-pressure', pressure({}));
    expect(alarms()).toEqual([
      ['alarm.raised', 'video-disk-pressure'],
      ['alarm.cleared', 'video-disk-pressure'],
    ]);
    expect(emitted[0]?.data).toMatchObject({ severity: 'warning' });
  });

  it('holds the alarm while only held footage is left, and clears it once a pruning frees enough', () => {
    const { emitted, follow, alarms } = rig();
    follow('video.disk-pressure', pressure({ resolved: false, deletedFiles: 0, freedBytes: 0 }));
    follow('video.disk-pressure', pressure({ resolved: false, deletedFiles: 0, freedBytes: 0 }));
    expect(alarms()).toEqual([['alarm.raised', 'video-disk-pressure']]);
    expect(emitted[0]?.data).toMatchObject({
      detail: expect.stringContaining('and only footage under a legal hold is left'),
    });
    follow('video.disk-pressure', pressure({ deletedLinked: 1 }));
    expect(alarms()).toEqual([
      ['alarm.raised', 'video-disk-pressure'],
      ['alarm.cleared', 'video-disk-pressure'],
    ]);
    expect(emitted[1]?.data).toMatchObject({
      detail: expect.stringContaining('1 of them linked to door events'),
    });
  });
});
