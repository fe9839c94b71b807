import Type from 'typebox';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../../src/config/load-config.js';
import { VideoConfig } from '../../../../src/config/video-config.js';

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

describe('video configuration: legal holds', () => {
  it('refuses a hold whose times are not ISO date-times', () => {
    expect(() =>
      parse(
        'video:\n  legalHolds:\n    - { id: case-1, from: yesterday, to: "2026-01-02T00:00:00Z", reason: court }\n',
      ),
    ).toThrow(/legalHolds\[0\]\.from/);
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
