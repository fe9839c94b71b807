import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Value from 'typebox/value';
import { afterEach, describe, expect, it } from 'vitest';
import { VideoConfig } from '../../../../src/config/video-config.js';
import { Recorder } from '../../../../src/gateway/recorder/recorder.js';
import { VideoKeyStore } from '../../../../src/gateway/recorder/video-keys.js';
import { FakeClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe('recorder: linking footage to a door event', () => {
  it('resolves with the footage missing when even reporting the failure throws', async () => {
    // followUpVideo calls linkFootage without awaiting it: a rejection would end the gateway.
    const root = mkdtempSync(join(tmpdir(), 'idg-link-'));
    roots.push(root);
    const clock = new FakeClock(Date.parse('2026-03-01T08:00:00Z'));
    const { cameras: _none, ...settings } = Value.Default(VideoConfig, {}) as VideoConfig;
    const recorder = new Recorder({
      cameras: [
        { id: 'cam-1', url: 'rtsp://10.0.0.1/x', transport: 'tcp', segmentSeconds: 60, enabled: true },
      ],
      settings,
      videoDir: join(root, 'video'),
      spoolDir: join(root, 'spool'),
      keyStore: new VideoKeyStore(join(root, 'keys'), randomBytes(32)),
      clock,
      log: silentLogger,
      emit: () => {
        throw new Error('the outbox is closed');
      },
      binaries: {
        ffmpeg: '/nonexistent/ffmpeg',
        ffprobe: '/nonexistent/ffprobe',
        source: { ffmpeg: '', ffprobe: '' },
      },
    });

    const linked = recorder.linkFootage(clock.now(), 'evt-1');
    clock.advance(10 * 60_000); // nothing was recorded: the wait for footage ends
    await expect(linked).resolves.toEqual([{ camera: 'cam-1', missing: 'the outbox is closed' }]);
  });
});
