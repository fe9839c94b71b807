import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { VideoKeyStore } from '../../../src/gateway/recorder/video-keys.js';
import { followUpVideo } from '../../../src/gateway/video-follow-up.js';
import type { Envelope } from '../../../src/protocol/envelope.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { filesUnder, type Rig, startRig } from '../../helpers/recorder-rig.js';

describe('recording while the day key cannot be stored', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it('keeps the segments, raises the camera alarm, and stores them once keys can be written', async () => {
    // The keys directory is a plain file, as a key disk that refuses new files would behave.
    rig = await startRig({
      keyStore: (keysDir, siteKey) => {
        writeFileSync(keysDir, 'not a directory');
        return new VideoKeyStore(keysDir, siteKey);
      },
    });
    const { events, recorder, keysDir } = rig;
    await events.count('video.segment-rejected', 2);
    const kept = events.of('video.segment-rejected').map((r) => r.file);
    expect(events.of('video.segment-rejected')[0]?.detail).toMatch(/; kept in the spool and tried again/);
    expect(events.of('video.segment')).toEqual([]);
    expect(recorder.ingest.heldSegments.length).toBeGreaterThanOrEqual(2);

    rmSync(keysDir); // the key disk writes again
    await recorder.stop(); // tries what it kept once more, and stores the segment in progress

    const stored = events.of('video.segment');
    expect(stored.length).toBeGreaterThanOrEqual(kept.length);
    expect(recorder.ingest.heldSegments).toEqual([]);
    expect(filesUnder(recorder.spoolDir)).toEqual([]);
    expect(existsSync(keysDir)).toBe(true);

    // The gateway turns these events into the camera's alarm: raised at the first, cleared after.
    const alarms: EventBody[] = [];
    const book = new AlarmBook((event) => alarms.push(event));
    for (const e of events.events)
      followUpVideo(
        { kind: e.kind, data: e.data, id: 'x', time: '' } as unknown as Envelope,
        book,
        undefined,
        new Map(),
      );
    expect(alarms.map((a) => [a.kind, 'key' in a.data ? a.data.key : undefined])).toEqual([
      ['alarm.raised', 'video-storage-failed:cam-1'],
      ['alarm.cleared', 'video-storage-failed:cam-1'],
    ]);
  });
});
