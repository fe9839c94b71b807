import { describe, expect, it } from 'vitest';
import { type DiskFile, planReconcile } from '../../../../src/gateway/recorder/reconcile.js';
import { footage } from './footage-fixtures.js';

const now = Date.parse('2026-01-05T12:00:00Z');
const options = { now, graceMs: 300_000, maxFraction: 0.1, force: false };
const indexed = Array.from({ length: 20 }, (_, i) =>
  footage('cam-1', `2026-01-05T08:${String(i).padStart(2, '0')}:00Z`),
);
const onDisk = (files = indexed): DiskFile[] =>
  files.map((f) => ({
    camera: f.camera,
    day: f.day,
    file: f.file,
    path: f.path,
    bytes: f.bytes,
    mtimeMs: f.endMs,
  }));
const orphan = (file: string, ageMs: number): DiskFile => ({
  camera: 'cam-1',
  day: '2026-01-05',
  file,
  path: `/video/cam-1/2026-01-05/${file}`,
  bytes: 10,
  mtimeMs: now - ageMs,
});

describe('reconciling index and disk', () => {
  it('finds nothing to do when they agree', () => {
    expect(planReconcile(indexed, onDisk(), options)).toEqual({
      orphans: [],
      missing: [],
      indexed: 20,
      refused: false,
    });
  });

  it('finds files without rows and rows without files', () => {
    const plan = planReconcile(
      indexed,
      [...onDisk(indexed.slice(1)), orphan('stray.mp4.idgv', 600_000)],
      options,
    );
    expect(plan.orphans.map((f) => f.file)).toEqual(['stray.mp4.idgv']);
    expect(plan.missing).toEqual([indexed[0]]);
    expect(plan.refused).toBe(false);
  });

  it('leaves files younger than the grace period to the ingest', () => {
    const plan = planReconcile(indexed, [...onDisk(), orphan('x.mp4.idgv.part', 1000)], options);
    expect(plan.orphans).toEqual([]);
  });

  it('refuses to remove more than the safety fraction', () => {
    // 3 of 20 is 15 %, above 10 %: looks like a lost mount, not a crash.
    const plan = planReconcile(indexed, onDisk(indexed.slice(3)), options);
    expect(plan.refused).toBe(true);
  });

  it('removes more than the safety fraction when forced', () => {
    const plan = planReconcile(indexed, [], { ...options, force: true });
    expect(plan.refused).toBe(false);
    expect(plan.missing).toHaveLength(20);
  });

  it('always allows a single repair, even in a small index', () => {
    expect(planReconcile(indexed.slice(0, 2), onDisk(indexed.slice(0, 1)), options).refused).toBe(false);
  });
});
