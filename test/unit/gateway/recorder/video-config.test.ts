import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../../src/config/load-config.js';
import { VideoConfig } from '../../../../src/config/video-config.js';
import { holdsFromConfig } from '../../../../src/gateway/recorder/footage-holds.js';

const Wrapper = Type.Object({ video: VideoConfig });
const parse = (yaml: string) => parseConfigText(yaml, Wrapper, { env: {} }).video;

describe('video configuration', () => {
  it('fills the documented defaults', () => {
    const video = parse('video:\n  cameras:\n    - { id: cam-1, url: "rtsp://10.0.0.5:554/stream1" }\n');
    expect(video).toMatchObject({
      retentionDays: 60,
      stallSeconds: 15,
      clip: { beforeSeconds: 10, afterSeconds: 20 },
    });
    expect(video.cameras[0]).toMatchObject({ transport: 'tcp', segmentSeconds: 60, enabled: true });
  });

  it('refuses credentials inside a camera URL', () => {
    expect(() =>
      parse('video:\n  cameras:\n    - { id: cam-1, url: "rtsp://admin:pw@10.0.0.5/s" }\n'),
    ).toThrow(/cameras\[0\]\.url/);
  });

  it('refuses a password written into the file instead of a secret reference', () => {
    expect(() =>
      parse(
        'video:\n  cameras:\n    - { id: cam-1, url: "rtsp://10.0.0.5/s", username: a, password: hunter2 }\n',
      ),
    ).toThrow(/cameras\[0\]\.password/);
  });

  it('accepts a legal hold with ISO times', () => {
    const video = parse(
      'video:\n  legalHolds:\n    - { id: case-1, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", reason: court }\n',
    );
    expect(video.legalHolds).toHaveLength(1);
  });
});

describe('video configuration: cameras the recorder could not run', () => {
  it('refuses two cameras with one id, naming the second and the first', () => {
    const yaml =
      'video:\n  cameras:\n    - { id: cam-door, url: "rtsp://10.0.0.5/door" }\n' +
      '    - { id: cam-door, url: "rtsp://10.0.0.6/desk" }\n';
    expect(() => parse(yaml)).toThrow(
      /video\.cameras\[1\]\.id: must be unique, got "cam-door", the id of video\.cameras\[0\] too/,
    );
  });

  it.each([
    ['a port above 65535', 'rtsp://10.0.0.5:99999/s'],
    ['a lone "["', 'rtsp://[10.0.0.5/s'],
  ])('refuses a camera URL with %s, naming the key', (_what, url) => {
    const yaml = `video:\n  cameras:\n    - { id: cam-door, url: "${url}", username: rec }\n`;
    expect(() => parse(yaml)).toThrow(/video\.cameras\[0\]\.url: must be a URL that can be parsed/);
  });

  it('accepts a camera at an IPv6 address with a port', () => {
    const yaml = 'video:\n  cameras:\n    - { id: cam-door, url: "rtsp://[fd00::5]:8554/s" }\n';
    expect(parse(yaml).cameras).toHaveLength(1);
  });
});

describe('video configuration: legal holds', () => {
  it('refuses a hold whose times are not ISO date-times', () => {
    expect(() =>
      parse(
        'video:\n  legalHolds:\n    - { id: case-1, from: yesterday, to: "2026-01-02T00:00:00Z", reason: court }\n',
      ),
    ).toThrow(/legalHolds\[0\]\.from/);
  });
});

describe('video configuration: legal holds that would hold nothing', () => {
  const camera = '  cameras:\n    - { id: cam-door, url: "rtsp://10.0.0.5/s" }\n';

  it('refuses a hold whose to is before its from, naming the key and line', () => {
    const yaml = `video:\n${camera}  legalHolds:\n    - { id: case-1, from: "2026-03-01T09:00:00Z", to: "2026-03-01T08:00:00Z", reason: police }\n`;
    expect(() => parse(yaml)).toThrow(/line 5: video\.legalHolds\[0\]\.to: must be after from/);
  });

  it('refuses a hold whose to equals its from', () => {
    const yaml = `video:\n${camera}  legalHolds:\n    - { id: case-1, from: "2026-03-01T08:00:00Z", to: "2026-03-01T08:00:00Z", reason: police }\n`;
    expect(() => parse(yaml)).toThrow(/video\.legalHolds\[0\]\.to: must be after from/);
  });

  it('refuses a hold naming a camera that is not configured, and says which are', () => {
    const yaml = `video:\n${camera}  legalHolds:\n    - { id: case-2, camera: cam_door, from: "2026-03-01T08:00:00Z", to: "2026-03-01T09:00:00Z", reason: x }\n`;
    expect(() => parse(yaml)).toThrow(
      /video\.legalHolds\[0\]\.camera: must be the id of a camera under video\.cameras \(cam-door\), got "cam_door"/,
    );
  });

  it('accepts a hold on a camera kept configured but disabled', () => {
    const yaml =
      'video:\n  cameras:\n    - { id: cam-old, url: "rtsp://10.0.0.5/s", enabled: false }\n' +
      '  legalHolds:\n    - { id: case-3, camera: cam-old, from: "2026-03-01T08:00:00Z", to: "2026-03-01T09:00:00Z", reason: x }\n';
    expect(parse(yaml).legalHolds).toHaveLength(1);
  });

  it('reports every bad hold at once, in the gateway configuration too', () => {
    const yaml = `video:\n${camera}  legalHolds:\n    - { id: a, camera: cam-x, from: "2026-03-01T09:00:00Z", to: "2026-03-01T08:00:00Z", reason: x }\n`;
    let message = '';
    try {
      parseConfigText(yaml, Type.Object({ id: Type.Optional(Type.String()), video: VideoConfig }), {
        env: {},
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('2 configuration problem(s)');
    expect(message).toContain('video.legalHolds[0].to');
    expect(message).toContain('video.legalHolds[0].camera');
  });

  it('is refused at run time as well (a hold placed through the recorder)', () => {
    expect(() =>
      holdsFromConfig([{ id: 'h', from: '2026-03-01T09:00:00Z', to: '2026-03-01T08:00:00Z', reason: 'x' }]),
    ).toThrow(expect.objectContaining({ code: 'IDG_VIDEO_BAD_HOLD' }));
  });
});

describe('docs/video.md', () => {
  it('documents every video key and its environment variable', async () => {
    const { readFileSync } = await import('node:fs');
    const { environmentOverrides } = await import('../../../../src/config/load-config.js');
    const doc = readFileSync('docs/video.md', 'utf8');
    for (const override of environmentOverrides(Wrapper)) {
      expect(doc).toContain(`\`${override.path.join('.')}\``);
      expect(doc).toContain(`\`${override.name}\``);
    }
  });
});
