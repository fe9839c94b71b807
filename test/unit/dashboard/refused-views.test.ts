import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditEntry, AuditLog } from '../../../src/dashboard/audit/audit-log.js';
import { type RefusedAttempt, RefusedViews } from '../../../src/dashboard/video/refused-views.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

/** Refused attempts to watch footage are audited, in rows bounded per person and window. */
describe('refused footage views', () => {
  let clock: FakeClock;
  let rows: AuditEntry[];
  let refused: RefusedViews;

  beforeEach(() => {
    clock = new FakeClock(Date.parse('2026-03-01T10:00:00Z'));
    rows = [];
    refused = new RefusedViews({
      audit: { record: async (entry: AuditEntry) => void rows.push(entry) } as unknown as AuditLog,
      clock,
      log: silentLogger,
      windowMs: 5 * 60_000,
      maxRows: 3,
    });
  });

  const attempt = (camera: string, actor = 'staff:root'): RefusedAttempt => ({
    actor,
    key: `range\n${camera}`,
    target: `site-a/gw-1/${camera}`,
    details: { kind: 'range', from: '2026-03-01T09:00:00Z', to: '2026-03-01T09:01:00Z' },
  });

  it('writes an attempt as a video.view row with result forbidden', async () => {
    await refused.refused(attempt('cam-1'));
    expect(rows).toEqual([
      {
        actor: 'staff:root',
        action: 'video.view',
        target: 'site-a/gw-1/cam-1',
        details: {
          kind: 'range',
          from: '2026-03-01T09:00:00Z',
          to: '2026-03-01T09:01:00Z',
          result: 'forbidden',
        },
      },
    ]);
  });

  it('counts repeats and attempts past the row limit, and writes the count when the window closes', async () => {
    for (let i = 0; i < 5; i++) await refused.refused(attempt('cam-1'));
    for (const camera of ['cam-2', 'cam-3', 'cam-4', 'cam-5']) await refused.refused(attempt(camera));
    expect(rows.map((row) => row.target)).toEqual([
      'site-a/gw-1/cam-1',
      'site-a/gw-1/cam-2',
      'site-a/gw-1/cam-3',
    ]);
    clock.advance(5 * 60_000);
    await vi.waitFor(() => expect(rows).toHaveLength(4));
    expect(rows[3]).toEqual({
      actor: 'staff:root',
      action: 'video.view',
      target: null,
      details: {
        kind: 'repeated',
        result: 'forbidden',
        attempts: 6,
        since: '2026-03-01T10:00:00.000Z',
        until: '2026-03-01T10:05:00.000Z',
      },
    });
    // A new window: the same attempt is a row again.
    await refused.refused(attempt('cam-1'));
    expect(rows).toHaveLength(5);
  });

  it("keeps each person's window apart", async () => {
    await refused.refused(attempt('cam-1', 'staff:root'));
    await refused.refused(attempt('cam-1', 'staff:bob'));
    expect(rows.map((row) => row.actor)).toEqual(['staff:root', 'staff:bob']);
  });

  it('writes what it counted at stop', async () => {
    await refused.refused(attempt('cam-1'));
    await refused.refused(attempt('cam-1'));
    await refused.stop();
    expect(rows.map((row) => row.details?.kind)).toEqual(['range', 'repeated']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not fail the refusal when the audit log cannot be written', async () => {
    const failing = new RefusedViews({
      audit: {
        record: async () => Promise.reject(new Error('connection terminated')),
      } as unknown as AuditLog,
      clock,
      log: silentLogger,
    });
    await expect(failing.refused(attempt('cam-1'))).resolves.toBeUndefined();
  });
});
