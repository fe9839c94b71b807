import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/dashboard/audit/audit-log.js';
import { floodAlarmKey, LoginCheckThrottle } from '../../../src/dashboard/presence/login-check-throttle.js';
import type { CentralAlarm } from '../../../src/dashboard/storage/alarm-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { type Logger, silentLogger } from '../../../src/lib/logger.js';

/** The alarm store as the throttle sees it: open keys, and every raise and clear. */
class FakeAlarms {
  readonly open = new Map<string, CentralAlarm>();
  readonly log: string[] = [];

  async raiseCentralUnlessOpen(alarm: CentralAlarm) {
    if (this.open.has(alarm.key)) return [];
    this.open.set(alarm.key, alarm);
    this.log.push(`raised ${alarm.key}`);
    return [view(alarm.key)];
  }

  async clearCentralAnySite(key: string) {
    if (!this.open.delete(key)) return [];
    this.log.push(`cleared ${key}`);
    return [view(key)];
  }

  async clearCentralOfType(alarm: string) {
    const keys = [...this.open.values()].filter((a) => a.alarm === alarm).map((a) => a.key);
    for (const key of keys) await this.clearCentralAnySite(key);
    return keys.map(view);
  }
}

const view = (key: string) => ({ key }) as never;

describe('the login-check throttle per workstation', () => {
  const limits = { burst: 5, intervalMs: 2_000 };
  const calmMs = 10_000;
  let clock: FakeClock;
  let entries: AuditEntry[];
  let alarms: FakeAlarms;
  let changed: number;
  let auditFails: boolean;
  let errors: string[];
  /** Timers the throttle sets are dropped: as if they came late. */
  let timersLate: boolean;
  let throttle: LoginCheckThrottle;

  const checks = async (workstation: string, n: number) => {
    const admitted: boolean[] = [];
    for (let i = 0; i < n; i++) admitted.push(await throttle.admit(workstation));
    return admitted;
  };
  const actions = () => entries.map((e) => e.action);

  beforeEach(() => {
    clock = new FakeClock();
    entries = [];
    alarms = new FakeAlarms();
    changed = 0;
    auditFails = false;
    errors = [];
    timersLate = false;
    const log = {
      ...silentLogger,
      error: (_fields: unknown, message?: string) => errors.push(String(message)),
    } as Logger;
    throttle = new LoginCheckThrottle({
      limits,
      audit: {
        record: async (entry: AuditEntry) => {
          if (auditFails) throw new Error('database down');
          entries.push(entry);
          return entries.length;
        },
      },
      alarms,
      alarmsChanged: (views) => {
        changed += views.length;
      },
      siteOf: (workstation) => (workstation.startsWith('ws-') ? 'hq' : undefined),
      clock: {
        now: () => clock.now(),
        setTimeout: (callback, ms) => (timersLate ? { cancel: () => {} } : clock.setTimeout(callback, ms)),
      },
      log,
      reportMs: 60_000,
    });
  });

  it('lets a burst of checks through and writes nothing for them', async () => {
    expect(await checks('ws-1', 5)).toEqual([true, true, true, true, true]);
    expect(entries).toEqual([]);
    expect(alarms.log).toEqual([]);
  });

  it('calms down after the burst by the bucket’s refill time', () => {
    expect(throttle.calmMs).toBe(calmMs);
  });

  it('denies the checks beyond the burst, audited once and warned once however many there are', async () => {
    await checks('ws-1', 5);
    expect(await checks('ws-1', 200)).toEqual(Array(200).fill(false));
    expect(entries).toEqual([
      {
        actor: 'workstation:ws-1',
        action: 'workstation.login-throttled',
        target: 'workstation:ws-1',
        details: { burst: 5, intervalSeconds: 2 },
      },
    ]);
    expect(alarms.log).toEqual([`raised ${floodAlarmKey('ws-1')}`]);
    expect(alarms.open.get(floodAlarmKey('ws-1'))).toMatchObject({
      alarm: 'workstation-login-flood',
      severity: 'warning',
      site: 'hq',
    });
    expect(changed).toBe(1);
  });

  it('audits the flood once when checks that begin it arrive all at once', async () => {
    await checks('ws-1', 5);
    const answers = await Promise.all(Array.from({ length: 50 }, () => throttle.admit('ws-1')));
    expect(answers.every((a) => a === false)).toBe(true);
    expect(actions()).toEqual(['workstation.login-throttled']);
  });

  it('allows one more check per interval during a flood without counting it as throttled', async () => {
    await checks('ws-1', 6);
    clock.advance(2_000);
    expect(await throttle.admit('ws-1')).toBe(true);
    expect(await throttle.admit('ws-1')).toBe(false);
  });

  it('ends a flood once the workstation has been calm, with its count, and clears the warning', async () => {
    await checks('ws-1', 5 + 30);
    clock.advance(calmMs - 1);
    await throttle.idle();
    expect(actions()).toEqual(['workstation.login-throttled']);
    clock.advance(1);
    await throttle.idle();
    expect(entries.at(-1)).toEqual({
      actor: 'system',
      action: 'workstation.login-throttle-ended',
      target: 'workstation:ws-1',
      details: { throttled: 30, since: new Date(clock.now() - calmMs).toISOString(), reason: 'calm' },
    });
    expect(alarms.log).toEqual([`raised ${floodAlarmKey('ws-1')}`, `cleared ${floodAlarmKey('ws-1')}`]);
    expect(throttle.tracked.floods).toBe(0);
  });

  it('keeps a flood open while throttled checks go on, however long', async () => {
    await checks('ws-1', 6);
    for (let i = 0; i < 10; i++) {
      clock.advance(calmMs / 2);
      await checks('ws-1', 10);
    }
    await throttle.idle();
    expect(actions()).toEqual(['workstation.login-throttled']);
    expect(alarms.open.has(floodAlarmKey('ws-1'))).toBe(true);
  });

  it('ends a calm flood before the next check, which is then allowed', async () => {
    timersLate = true;
    await checks('ws-1', 8);
    clock.advance(calmMs);
    expect(alarms.open.size).toBe(1);
    expect(await throttle.admit('ws-1')).toBe(true);
    expect(actions()).toEqual(['workstation.login-throttled', 'workstation.login-throttle-ended']);
    expect(entries.at(-1)?.details).toMatchObject({ throttled: 3, reason: 'calm' });
    expect(alarms.open.size).toBe(0);
  });

  it('writes the count of a long flood periodically and raises the warning again if it was cleared elsewhere', async () => {
    let denied = (await checks('ws-1', 6)).filter((a) => !a).length;
    for (let second = 1; second < 60; second++) {
      clock.advance(1_000);
      denied += (await checks('ws-1', 2)).filter((a) => !a).length;
    }
    clock.advance(1_000);
    await throttle.idle();
    expect(actions()).toEqual(['workstation.login-throttled', 'workstation.login-throttle-continues']);
    // 2 a second, but for the one per interval the refill let through.
    expect(denied).toBe(1 + 59 * 2 - 29);
    expect(entries.at(-1)?.details).toEqual({
      throttled: denied,
      since: new Date(clock.now() - 60_000).toISOString(),
    });
    // Another instance cleared the warning; the next report raises it again.
    await alarms.clearCentralAnySite(floodAlarmKey('ws-1'));
    for (let second = 1; second <= 60; second++) {
      clock.advance(1_000);
      await checks('ws-1', 2);
    }
    await throttle.idle();
    expect(alarms.open.has(floodAlarmKey('ws-1'))).toBe(true);
  });

  it('throttles each workstation on its own', async () => {
    await checks('ws-1', 10);
    expect(await checks('ws-2', 5)).toEqual([true, true, true, true, true]);
    expect(alarms.open.has(floodAlarmKey('ws-2'))).toBe(false);
  });

  it('raises the warning without a site for a workstation whose site is not known', async () => {
    await checks('lab-1', 6);
    expect(alarms.open.get(floodAlarmKey('lab-1'))).not.toHaveProperty('site');
  });

  it('keeps denying when the audit log cannot be written, and says so in the log', async () => {
    auditFails = true;
    await checks('ws-1', 5);
    expect(await checks('ws-1', 3)).toEqual([false, false, false]);
    expect(errors).toEqual(['security: a workstation login-check flood not audited']);
    expect(alarms.open.has(floodAlarmKey('ws-1'))).toBe(true);
  });

  it('ends every flood at stop, with its count so far, and clears their warnings', async () => {
    await checks('ws-1', 7);
    await checks('ws-2', 9);
    await throttle.stop();
    expect(entries.filter((e) => e.action === 'workstation.login-throttle-ended')).toEqual([
      expect.objectContaining({
        target: 'workstation:ws-1',
        details: expect.objectContaining({ throttled: 2, reason: 'stopped' }),
      }),
      expect.objectContaining({
        target: 'workstation:ws-2',
        details: expect.objectContaining({ throttled: 4, reason: 'stopped' }),
      }),
    ]);
    expect(alarms.open.size).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('clears at start the warnings an instance that crashed left open', async () => {
    alarms.open.set(floodAlarmKey('ws-9'), {
      alarm: 'workstation-login-flood',
      key: floodAlarmKey('ws-9'),
      severity: 'warning',
    });
    alarms.open.set('gateway-offline:gw-1', {
      alarm: 'gateway-offline',
      key: 'gateway-offline:gw-1',
      severity: 'warning',
    });
    await throttle.start();
    expect([...alarms.open.keys()]).toEqual(['gateway-offline:gw-1']);
    expect(changed).toBe(1);
  });

  it('forgets workstations once they are calm and their buckets refilled', async () => {
    for (let i = 0; i < 100; i++) await checks(`ws-${i}`, 7);
    expect(throttle.tracked).toEqual({ buckets: 100, floods: 100 });
    clock.advance(calmMs);
    await throttle.idle();
    await throttle.admit('ws-new');
    expect(throttle.tracked).toEqual({ buckets: 1, floods: 0 });
    expect(clock.pendingTimers()).toBe(0);
  });
});
