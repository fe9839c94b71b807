import { describe, expect, it } from 'vitest';
import { RetentionJob } from '../../../src/dashboard/retention/retention-job.js';
import type { RetentionReport } from '../../../src/dashboard/retention/retention-schemas.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { CodedError } from '../../../src/lib/coded-error.js';
import { silentLogger } from '../../../src/lib/logger.js';

const HOUR = 3_600_000;

/** A service that records when it runs; runs can be held open (`finish` ends them) or made to fail. */
function fakeService(clock: FakeClock, holdOpen = false) {
  const runs: number[] = [];
  let failWith: Error | undefined;
  let halted = false;
  let finish: () => void = () => {};
  const report = (): RetentionReport => ({
    runId: '00000000-0000-4000-8000-000000000000',
    dryRun: false,
    startedAt: new Date(clock.now()).toISOString(),
    finishedAt: new Date(clock.now()).toISOString(),
    partitionsCreated: 0,
    entries: [],
    held: [],
    failures: [],
  });
  return {
    runs,
    fail: (error: Error | undefined) => {
      failWith = error;
    },
    finish: () => finish(),
    get halted() {
      return halted;
    },
    service: {
      async runNow() {
        runs.push(clock.now());
        if (holdOpen) await new Promise<void>((resolve) => (finish = resolve));
        if (failWith) throw failWith;
        return report();
      },
      halt() {
        halted = true;
      },
    },
  };
}

/** Lets the job's promise chain settle after the fake clock fired a timer. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('retention job', () => {
  it('runs at start and then once per interval, counted from the start of each run', async () => {
    const clock = new FakeClock(0);
    const fake = fakeService(clock, true);
    const job = new RetentionJob({ service: fake.service, clock, log: silentLogger, intervalMs: HOUR });
    job.start();
    clock.advance(0);
    clock.advance(10 * 60_000);
    fake.finish();
    await settle();
    clock.advance(HOUR - 10 * 60_000 - 1);
    await settle();
    expect(fake.runs).toEqual([0]);
    clock.advance(1);
    await settle();
    expect(fake.runs).toEqual([0, HOUR]);
    fake.finish();
    await job.stop();
  });

  it('keeps its schedule after a failed run and when another instance holds the lock', async () => {
    const clock = new FakeClock(0);
    const fake = fakeService(clock);
    const job = new RetentionJob({ service: fake.service, clock, log: silentLogger, intervalMs: HOUR });
    fake.fail(new Error('database gone'));
    job.start();
    clock.advance(0);
    await settle();
    fake.fail(new CodedError('IDG_RETENTION_BUSY', 'busy'));
    clock.advance(HOUR);
    await settle();
    fake.fail(undefined);
    clock.advance(HOUR);
    await settle();
    expect(fake.runs).toEqual([0, HOUR, 2 * HOUR]);
    await job.stop();
  });

  it('stops scheduling and halts a running sweep when stopped', async () => {
    const clock = new FakeClock(0);
    const fake = fakeService(clock);
    const job = new RetentionJob({ service: fake.service, clock, log: silentLogger, intervalMs: HOUR });
    job.start();
    await job.stop();
    clock.advance(2 * HOUR);
    await settle();
    expect(fake.runs).toEqual([]);
    expect(fake.halted).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });
});
