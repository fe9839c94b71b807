import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClockSyncMonitor, clockProbe } from '../../../src/gateway/clock-sync-monitor.js';
import { FakeClock, systemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

const fileConfig = (file: string) => ({
  source: 'file' as const,
  file,
  maxAgeSeconds: 600,
  checkIntervalSeconds: 60,
});

describe('clock synchronisation', () => {
  it('counts as unsynchronised until the first check succeeds (fail closed)', () => {
    const monitor = new ClockSyncMonitor(
      async () => ({ synchronised: true, detail: '' }),
      60_000,
      new FakeClock(),
      silentLogger,
    );
    expect(monitor.synchronised()).toBe(false);
  });

  it('follows a status file: fresh and "synchronised" is trusted, stale or otherwise is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idg-sync-'));
    const file = join(dir, 'ntp-status');
    writeFileSync(file, 'synchronised\n');
    const probe = clockProbe(fileConfig(file), systemClock);
    expect(await probe()).toMatchObject({ synchronised: true });
    writeFileSync(file, 'unsynchronised\n');
    expect(await probe()).toMatchObject({
      synchronised: false,
      detail: expect.stringContaining('unsynchronised'),
    });
    writeFileSync(file, 'yes\n');
    const old = (Date.now() - 3_600_000) / 1000;
    utimesSync(file, old, old);
    expect(await probe()).toMatchObject({ synchronised: false, detail: expect.stringMatching(/s old$/) });
  });

  it('treats a missing status file or a failing command as unsynchronised, with the reason', async () => {
    const monitor = new ClockSyncMonitor(
      clockProbe(fileConfig('/nonexistent/ntp-status'), systemClock),
      60_000,
      new FakeClock(),
      silentLogger,
    );
    expect(await monitor.check()).toBe(false);
    expect(monitor.lastDetail).toContain('ENOENT');
    monitor.stop();
  });

  it('re-checks on its interval and reports changes', async () => {
    const clock = new FakeClock();
    let answer = false;
    const changes: boolean[] = [];
    const monitor = new ClockSyncMonitor(
      async () => ({ synchronised: answer, detail: String(answer) }),
      60_000,
      clock,
      silentLogger,
    );
    monitor.onChange = (synchronised) => changes.push(synchronised);
    await monitor.start();
    answer = true;
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(monitor.synchronised()).toBe(true);
    expect(changes).toEqual([false, true]);
    monitor.stop();
  });

  it('keeps checking on its interval when a change listener throws', async () => {
    const clock = new FakeClock();
    let probes = 0;
    const monitor = new ClockSyncMonitor(
      async () => {
        probes += 1;
        return { synchronised: probes > 1, detail: `probe ${probes}` };
      },
      60_000,
      clock,
      silentLogger,
    );
    monitor.onChange = () => {
      throw new Error('listener defect');
    };
    await expect(monitor.start()).resolves.toBeUndefined();
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(probes).toBe(2);
    expect(monitor.synchronised()).toBe(true);
    clock.advance(60_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(probes).toBe(3);
    monitor.stop();
  });
});
