import { describe, expect, it } from 'vitest';
import type { Hold } from '../../../../src/gateway/recorder/footage-holds.js';
import { planRetention, type RetentionPolicy } from '../../../../src/gateway/recorder/video-retention.js';
import { footage } from './footage-fixtures.js';

const now = Date.parse('2026-03-15T12:00:00Z');
const policy = (more: Partial<RetentionPolicy> = {}): RetentionPolicy => ({
  defaultDays: 60,
  cameraDays: {},
  holds: [],
  ...more,
});
const days = (...refs: string[]) =>
  refs.map((r) => ({ camera: r.split('/')[0] as string, day: r.split('/')[1] as string }));
const hold = (from: string, to: string, camera?: string): Hold => ({
  id: 'h',
  camera,
  fromMs: Date.parse(from),
  toMs: Date.parse(to),
});

describe('video retention decisions', () => {
  it('deletes a whole day, with its key, once the day ended more than the retention ago', () => {
    const old = footage('cam-1', '2026-01-10T08:00:00Z');
    const plan = planRetention(now, policy(), [old], days('cam-1/2026-01-10'), []);
    expect(plan.days).toEqual(days('cam-1/2026-01-10'));
    expect(plan.files).toEqual([]);
  });

  it('keeps everything younger than the retention period', () => {
    const recent = footage('cam-1', '2026-03-01T08:00:00Z');
    expect(planRetention(now, policy(), [recent], days('cam-1/2026-03-01'), [])).toEqual({
      files: [],
      days: [],
      keys: [],
      dates: [],
    });
  });

  it('deletes single expired files of a day that is not wholly expired', () => {
    // 60 days before now is 2026-01-14T12:00Z: the morning of that day is expired, the evening not.
    const morning = footage('cam-1', '2026-01-14T08:00:00Z');
    const evening = footage('cam-1', '2026-01-14T20:00:00Z');
    const plan = planRetention(now, policy(), [morning, evening], days('cam-1/2026-01-14'), []);
    expect(plan.files).toEqual([morning]);
    expect(plan.days).toEqual([]);
  });

  it('applies a per-camera retention override', () => {
    const a = footage('cam-a', '2026-03-05T08:00:00Z');
    const b = footage('cam-b', '2026-03-05T08:00:00Z');
    const plan = planRetention(
      now,
      policy({ cameraDays: { 'cam-a': 7 } }),
      [a, b],
      days('cam-a/2026-03-05', 'cam-b/2026-03-05'),
      [],
    );
    expect(plan.days).toEqual(days('cam-a/2026-03-05'));
  });

  it('keeps footage under a legal hold, and its day and key, however old', () => {
    const held = footage('cam-1', '2026-01-10T08:00:00Z');
    const free = footage('cam-1', '2026-01-10T09:00:00Z');
    const plan = planRetention(
      now,
      policy({ holds: [hold('2026-01-10T08:00:30Z', '2026-01-10T08:00:40Z', 'cam-1')] }),
      [held, free],
      days('cam-1/2026-01-10'),
      [{ keyId: 'cam-1/2026-01-10', camera: 'cam-1', day: '2026-01-10' }],
    );
    expect(plan.files).toEqual([free]);
    expect(plan.days).toEqual([]);
    expect(plan.keys).toEqual([]);
  });

  it('a hold on another camera does not keep this camera’s footage', () => {
    const old = footage('cam-1', '2026-01-10T08:00:00Z');
    const plan = planRetention(
      now,
      policy({ holds: [hold('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 'cam-2')] }),
      [old],
      days('cam-1/2026-01-10'),
      [],
    );
    expect(plan.days).toEqual(days('cam-1/2026-01-10'));
  });

  it('a hold without a camera holds every camera', () => {
    const old = footage('cam-1', '2026-01-10T08:00:00Z');
    const plan = planRetention(
      now,
      policy({ holds: [hold('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')] }),
      [old],
      days('cam-1/2026-01-10'),
      [],
    );
    expect(plan).toEqual({ files: [], days: [], keys: [], dates: [] });
  });

  it('deletes expired keys whose footage folder is already gone', () => {
    const keys = [
      { keyId: 'cam-1/2026-01-02', camera: 'cam-1', day: '2026-01-02' },
      { keyId: 'cam-1/2026-03-10', camera: 'cam-1', day: '2026-03-10' },
    ];
    expect(planRetention(now, policy(), [], [], keys).keys).toEqual(['cam-1/2026-01-02']);
  });
});
