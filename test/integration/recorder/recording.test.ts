import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../../../src/gateway/recorder/ffmpeg-run.js';
import { isInMemory } from '../../../src/gateway/recorder/plaintext-scratch.js';
import { decryptFile } from '../../../src/gateway/recorder/segment-crypto.js';
import { binaries, filesUnder, type Rig, startRig } from '../../helpers/recorder-rig.js';
import { until } from '../../helpers/wait.js';

describe('recording a camera over RTSP', () => {
  let rig: Rig;
  const logLines: string[] = [];

  beforeAll(async () => {
    const { createLogger } = await import('../../../src/lib/logger.js');
    rig = await startRig({
      credentials: { username: 'viewer', password: 'pa:ss/w@rd' },
      log: createLogger({ level: 'debug', format: 'json', write: (line) => logLines.push(line) }),
    });
    await rig.events.count('video.segment', 3);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it('reports the camera up and indexes encrypted one-second segments', async () => {
    expect(rig.events.of('camera.up')[0]).toMatchObject({ camera: 'cam-1', restarts: 0 });
    const [first] = rig.events.of('video.segment');
    expect(first).toMatchObject({
      camera: 'cam-1',
      keyId: expect.stringMatching(/^cam-1\/\d{4}-\d{2}-\d{2}$/),
    });
    const segments = rig.recorder.segments('cam-1', Date.now() - 60_000, Date.now());
    expect(segments.length).toBeGreaterThanOrEqual(3);
    for (const s of segments) expect(s.endMs - s.startMs).toBeGreaterThan(500);
  });

  it('stores segments that only decrypt, with the day key, to a valid MP4', async () => {
    const [segment] = rig.recorder.segments('cam-1', Date.now() - 60_000, Date.now());
    if (!segment) throw new Error('no segment');
    await expect(runTool(binaries.ffprobe, ['-v', 'error', segment.path])).rejects.toThrow();
    const plain = join(rig.recorder.workDir, 'check.mp4');
    await decryptFile(segment.path, plain, (keyId) => rig.keys.lookup(keyId));
    const probe = JSON.parse(
      await runTool(binaries.ffprobe, [
        '-v',
        'error',
        '-show_entries',
        'format=duration:stream=codec_name',
        '-of',
        'json',
        plain,
      ]),
    );
    expect(probe.streams[0].codec_name).toBe('h264');
    expect(Number(probe.format.duration)).toBeGreaterThan(0.5);
    rmSync(plain);
  });

  it('has ffmpeg write the open segment into a memory file system, readable by its owner only', async () => {
    const { spoolDir } = rig.recorder;
    expect(isInMemory(spoolDir)).toBe(true);
    expect(existsSync(join(rig.videoDir, '.spool'))).toBe(false);
    let mode: number | undefined;
    await until(() => {
      const [open] = filesUnder(spoolDir).filter((f) => f.endsWith('.mp4'));
      try {
        mode = open ? statSync(join(spoolDir, open)).mode & 0o777 : undefined;
      } catch {
        // Stored and deleted between listing and looking: the next one will do.
        mode = undefined;
      }
      return mode !== undefined;
    }, 'a segment in the spool');
    expect(mode?.toString(8)).toBe('600');
    expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
  });

  it('never logs the camera password or user-info', () => {
    const all = logLines.join('\n');
    expect(all).toContain('camera: recording');
    expect(all).not.toContain('pa:ss');
    expect(all).not.toContain(encodeURIComponent('pa:ss/w@rd'));
    expect(all).not.toContain('viewer:');
    expect(existsSync(rig.keysDir)).toBe(true);
    expect(
      readFileSync(join(rig.keysDir, 'cam-1', `${new Date().toISOString().slice(0, 10)}.key`), 'utf8'),
    ).toMatch(/^v2\.[A-Za-z0-9_-]{11}\./);
  });

  it('stores the segment in progress on a graceful stop and leaves no plaintext in the spool', async () => {
    const before = rig.events.of('video.segment').length;
    await rig.recorder.stop();
    expect(rig.events.of('video.segment').length).toBeGreaterThan(before);
    expect(filesUnder(rig.recorder.spoolDir)).toEqual([]);
    expect(rig.recorder.status()[0]?.state).toBe('stopped');
  });
});
