import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditLog } from '../../../src/dashboard/audit/audit-log.js';
import { WorkstationRefusals } from '../../../src/dashboard/presence/workstation-refusals.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

describe('refused workstation credentials in the audit log', () => {
  let clock: FakeClock;
  let entries: AuditEntry[];
  let refusals: WorkstationRefusals;
  const route = '/api/v1/workstations/:id/login-check';

  beforeEach(() => {
    clock = new FakeClock();
    entries = [];
    const audit = {
      record: async (entry: AuditEntry) => {
        entries.push(entry);
      },
    } as unknown as AuditLog;
    refusals = new WorkstationRefusals({
      audit,
      clock,
      log: silentLogger,
      windowMs: 60_000,
      maxPerWindow: 3,
    });
  });

  it('records who was refused and why, naming the workstation whose token it was', async () => {
    await refusals.refused({
      workstation: 'ws-a',
      reason: 'other-workstation-token',
      route,
      tokenOf: 'ws-b',
    });
    expect(entries).toEqual([
      {
        actor: 'anonymous',
        action: 'workstation.auth-refused',
        target: 'workstation:ws-a',
        details: { reason: 'other-workstation-token', route, tokenOf: 'workstation:ws-b' },
      },
    ]);
  });

  it('writes no workstation id that is not one', async () => {
    await refusals.refused({ workstation: 'ws a/../x', reason: 'unknown-workstation', route });
    expect(entries[0]).toMatchObject({ target: null, details: { workstation: 'malformed' } });
  });

  it('holds back repeats and a flood within a window, and writes how many when the window closes', async () => {
    for (let i = 0; i < 5; i++) await refusals.refused({ workstation: 'ws-a', reason: 'wrong-token', route });
    for (let i = 0; i < 5; i++)
      await refusals.refused({ workstation: `ws-${i}`, reason: 'unknown-workstation', route });
    expect(entries.map((e) => e.target)).toEqual([
      'workstation:ws-a',
      'workstation:ws-0',
      'workstation:ws-1',
    ]);
    clock.advance(60_000);
    await Promise.resolve();
    expect(entries.at(-1)).toEqual({
      actor: 'anonymous',
      action: 'workstation.auth-refused-suppressed',
      target: null,
      details: { count: 7, windowSeconds: 60 },
    });
    await refusals.refused({ workstation: 'ws-a', reason: 'wrong-token', route });
    expect(entries.at(-1)).toMatchObject({ action: 'workstation.auth-refused', target: 'workstation:ws-a' });
  });

  it('writes nothing more when nothing was held back', async () => {
    await refusals.refused({ workstation: 'ws-a', reason: 'no-token', route });
    await refusals.flush();
    expect(entries).toHaveLength(1);
  });
});
