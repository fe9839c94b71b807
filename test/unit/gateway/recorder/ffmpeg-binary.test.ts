import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries } from '../../../../src/gateway/recorder/ffmpeg-binary.js';
import { hasCode } from '../../../../src/lib/coded-error.js';

const root = mkdtempSync(join(tmpdir(), 'idg-bin-'));
function executable(dir: string, name: string): string {
  mkdirSync(join(root, dir), { recursive: true });
  const path = join(root, dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}
const onPath = { ffmpeg: executable('path', 'ffmpeg'), ffprobe: executable('path', 'ffprobe') };
const pathEnv = { PATH: join(root, 'path') };

describe('finding ffmpeg and ffprobe', () => {
  it('prefers IDENTGATE_FFMPEG over FFMPEG_PATH, ffmpeg-static and PATH', () => {
    const env = {
      ...pathEnv,
      IDENTGATE_FFMPEG: executable('a', 'ffmpeg'),
      FFMPEG_PATH: executable('b', 'ffmpeg'),
    };
    const found = resolveFfmpegBinaries({ env, staticPath: executable('c', 'ffmpeg') });
    expect(found.ffmpeg).toBe(env.IDENTGATE_FFMPEG);
    expect(found.source.ffmpeg).toBe('IDENTGATE_FFMPEG');
  });

  it('uses FFMPEG_PATH, then ffmpeg-static, then PATH', () => {
    const staticPath = executable('s', 'ffmpeg');
    expect(
      resolveFfmpegBinaries({ env: { ...pathEnv, FFMPEG_PATH: executable('f', 'ffmpeg') }, staticPath })
        .source.ffmpeg,
    ).toBe('FFMPEG_PATH');
    expect(resolveFfmpegBinaries({ env: pathEnv, staticPath }).ffmpeg).toBe(staticPath);
    expect(resolveFfmpegBinaries({ env: pathEnv, staticPath: undefined }).ffmpeg).toBe(onPath.ffmpeg);
  });

  it('skips a configured path that is not an executable file', () => {
    const found = resolveFfmpegBinaries({
      env: { ...pathEnv, IDENTGATE_FFMPEG: join(root, 'missing') },
      staticPath: undefined,
    });
    expect(found.ffmpeg).toBe(onPath.ffmpeg);
  });

  it('looks for ffprobe beside the chosen ffmpeg before PATH', () => {
    const dir = 'side';
    const ffmpeg = executable(dir, 'ffmpeg');
    const ffprobe = executable(dir, 'ffprobe');
    expect(
      resolveFfmpegBinaries({ env: { ...pathEnv, IDENTGATE_FFMPEG: ffmpeg }, staticPath: undefined }).ffprobe,
    ).toBe(ffprobe);
    expect(
      resolveFfmpegBinaries({
        env: { ...pathEnv, IDENTGATE_FFPROBE: onPath.ffprobe, IDENTGATE_FFMPEG: ffmpeg },
        staticPath: undefined,
      }).ffprobe,
    ).toBe(onPath.ffprobe);
  });

  it('names every place it looked when there is no ffmpeg', () => {
    let error: unknown;
    try {
      resolveFfmpegBinaries({ env: { PATH: join(root, 'empty') }, staticPath: undefined });
    } catch (caught) {
      error = caught;
    }
    expect(hasCode(error, 'IDG_VIDEO_BINARY_NOT_FOUND')).toBe(true);
    expect(String(error)).toMatch(/IDENTGATE_FFMPEG.*FFMPEG_PATH.*ffmpeg-static.*PATH/);
  });
});
