import { describe, expect, it } from 'vitest';
import {
  bytesToFree,
  planPressureRelief,
  thresholdBytes,
} from '../../../../src/gateway/recorder/disk-pressure.js';
import { footage } from './footage-fixtures.js';

const GiB = 1024 ** 3;

describe('disk pressure decisions', () => {
  it('uses the larger of the byte and percentage thresholds', () => {
    expect(
      thresholdBytes({ freeBytes: 0, totalBytes: 100 * GiB }, { minFreeBytes: 2 * GiB, minFreePercent: 5 }),
    ).toBe(5 * GiB);
    expect(
      thresholdBytes({ freeBytes: 0, totalBytes: 10 * GiB }, { minFreeBytes: 2 * GiB, minFreePercent: 5 }),
    ).toBe(2 * GiB);
  });

  it('needs nothing while free space is above the threshold', () => {
    expect(
      bytesToFree({ freeBytes: 3 * GiB, totalBytes: 10 * GiB }, { minFreeBytes: 2 * GiB, minFreePercent: 0 }),
    ).toBe(0);
  });

  it('frees up to 10 % beyond the threshold once below it', () => {
    expect(
      bytesToFree({ freeBytes: 1000, totalBytes: 100_000 }, { minFreeBytes: 2000, minFreePercent: 0 }),
    ).toBe(1200);
  });

  it('deletes the oldest unlinked footage first', () => {
    const newer = footage('cam-1', '2026-01-02T08:00:00Z');
    const older = footage('cam-2', '2026-01-01T08:00:00Z');
    const linked = footage('cam-1', '2025-12-01T08:00:00Z', { events: ['evt-1'] });
    const plan = planPressureRelief([newer, linked, older], [], 1500);
    expect(plan.remove).toEqual([older, newer]);
    expect(plan.linkedRemoved).toBe(0);
  });

  it('deletes event-linked footage, oldest first, only when unlinked footage is not enough', () => {
    const plain = footage('cam-1', '2026-01-02T08:00:00Z');
    const linkedOld = footage('cam-1', '2025-12-01T08:00:00Z', { events: ['evt-1'] });
    const linkedNew = footage('cam-1', '2025-12-02T08:00:00Z', { events: ['evt-2'] });
    const plan = planPressureRelief([linkedNew, plain, linkedOld], [], 1500);
    expect(plan.remove).toEqual([plain, linkedOld]);
    expect(plan.linkedRemoved).toBe(1);
  });

  it('never deletes held footage, and reports what is still missing', () => {
    const held = footage('cam-1', '2026-01-01T08:00:00Z');
    const free = footage('cam-1', '2026-01-02T08:00:00Z');
    const plan = planPressureRelief(
      [held, free],
      [{ id: 'h', camera: undefined, fromMs: held.startMs, toMs: held.endMs }],
      5000,
    );
    expect(plan.remove).toEqual([free]);
    expect(plan.shortfallBytes).toBe(4000);
  });
});
