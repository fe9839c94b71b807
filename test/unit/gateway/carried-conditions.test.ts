import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlarmBook, type HeldCondition } from '../../../src/controllers/alarm-book.js';
import { ALARM_CONDITIONS_FILE, AlarmConditionFile } from '../../../src/gateway/alarm-condition-file.js';
import { CarriedConditions } from '../../../src/gateway/carried-conditions.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger } from '../../../src/lib/logger.js';
import { conditionDigest } from '../../../src/protocol/alarm-report.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';

const SETTLE_MS = 60_000;
const REQUEST = '01a21a20-5c3e-7000-8f4b-2b1d0c9e7a11';
const SALT = 'c2FsdC1vZi10aGUtcmVxdQ';
const cameraDown: HeldCondition = { alarm: 'camera-down', key: 'camera-down:cam-1', severity: 'critical' };
const deviceFault: HeldCondition = {
  alarm: 'device-fault',
  key: 'device-fault:main:keypad',
  severity: 'warning',
  door: 'main',
};

/** One run of a gateway's alarm book over the state directory `dir`, on a fake clock. */
function run(dir: string) {
  const clock = new FakeClock();
  const events: EventBody[] = [];
  const logs: Array<{ level: string; msg: string }> = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => logs.push(JSON.parse(line)) });
  const file = new AlarmConditionFile(dir, log);
  const alarms = new AlarmBook((event) => events.push(event), file);
  const carried = new CarriedConditions(alarms, file, clock, log);
  const told = () => events.map((e) => [e.kind, (e.data as { key: string }).key]);
  /** Waits until the file holds what was saved, and the events that waited for it are told. */
  const written = () => file.flushed();
  return { clock, events, logs, alarms, carried, told, written };
}

/** A state directory left by a run that stopped with these conditions active. */
async function leftBy(conditions: HeldCondition[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'idg-carried-'));
  const before = run(dir);
  for (const condition of conditions) before.alarms.raise(condition);
  await before.carried.close();
  return dir;
}

describe('alarm conditions carried over a restart', () => {
  it('holds the last run’s conditions again without raising them', async () => {
    const after = run(await leftBy([cameraDown, deviceFault]));
    after.carried.load();
    expect(after.events).toEqual([]);
    expect(after.alarms.activeKeys).toEqual(['camera-down:cam-1', 'device-fault:main:keypad']);
  });

  it('clears those not observed again once the settle period has passed, and not before', async () => {
    const after = run(await leftBy([cameraDown, deviceFault]));
    after.carried.load();
    after.carried.settle(SETTLE_MS);
    after.alarms.raise(deviceFault);
    await after.written();
    // Observed again: sent once more (its first raising may not have reached the outbox).
    expect(after.events).toEqual([{ kind: 'alarm.raised', data: deviceFault }]);
    after.clock.advance(SETTLE_MS - 1);
    expect(after.events).toHaveLength(1);
    after.clock.advance(1);
    await after.written();
    expect(after.events.slice(1)).toEqual([
      {
        kind: 'alarm.cleared',
        data: {
          alarm: 'camera-down',
          key: 'camera-down:cam-1',
          detail: 'not observed again within 60 s after the gateway restarted',
        },
      },
    ]);
    expect(after.alarms.activeKeys).toEqual(['device-fault:main:keypad']);
  });

  it('carries a condition over again when the gateway restarts before it settled', async () => {
    const dir = await leftBy([cameraDown]);
    const second = run(dir);
    second.carried.load();
    second.carried.settle(SETTLE_MS);
    second.carried.stop();
    second.clock.advance(SETTLE_MS);
    expect(second.events).toEqual([]);
    const third = run(dir);
    third.carried.load();
    expect(third.alarms.activeKeys).toEqual(['camera-down:cam-1']);
  });

  it('starts with a file that no longer lists a condition cleared after the settle period', async () => {
    const dir = await leftBy([cameraDown]);
    const second = run(dir);
    second.carried.load();
    second.carried.settle(SETTLE_MS);
    second.clock.advance(SETTLE_MS);
    await second.written();
    const third = run(dir);
    third.carried.load();
    expect(third.alarms.activeKeys).toEqual([]);
  });

  it('clears a carried-over outbox write failure once an event is on disk again, and only then', async () => {
    const failed: HeldCondition = {
      alarm: 'outbox-write-failed',
      key: 'outbox-write-failed',
      severity: 'critical',
    };
    const after = run(await leftBy([failed]));
    after.carried.load();
    after.carried.durable();
    after.carried.durable();
    await after.written();
    expect(after.told()).toEqual([['alarm.cleared', 'outbox-write-failed']]);
  });

  it('starts silently and with an empty book when there is no file', () => {
    const after = run(mkdtempSync(join(tmpdir(), 'idg-carried-')));
    after.carried.load();
    expect(after.events).toEqual([]);
    expect(after.logs).toEqual([]);
  });

  it('says once that the conditions are unknown when the file is damaged, and starts with an empty book', async () => {
    const dir = await leftBy([cameraDown]);
    writeFileSync(join(dir, ALARM_CONDITIONS_FILE), '{"conditions":[{"al');
    const after = run(dir);
    after.carried.load();
    await after.written();
    expect(after.logs).toEqual([
      expect.objectContaining({ level: 'error', msg: expect.stringContaining('alarm conditions lost') }),
    ]);
    expect(after.events).toEqual([
      {
        kind: 'alarm.raised',
        data: {
          alarm: 'internal-error',
          key: 'alarm-state-lost',
          severity: 'warning',
          detail: expect.stringContaining('the alarm conditions active before the restart are unknown'),
        },
      },
    ]);
    expect(after.alarms.activeKeys).toEqual(['alarm-state-lost']);
    // Written back empty: the next start has nothing to report.
    expect(JSON.parse(readFileSync(join(dir, ALARM_CONDITIONS_FILE), 'utf8')).conditions).toEqual([]);
    const next = run(dir);
    next.carried.load();
    expect(next.events).toEqual([]);
  });

  it('answers the central side’s request for a report once the book has settled, listing what still holds', async () => {
    const after = run(await leftBy([cameraDown, deviceFault]));
    after.carried.load();
    after.carried.settle(SETTLE_MS);
    const reported = after.carried.report(REQUEST, SALT);
    after.alarms.raise(deviceFault);
    after.clock.advance(SETTLE_MS - 1);
    await after.written();
    expect(after.events.map((e) => e.kind)).toEqual(['alarm.raised']);
    after.clock.advance(1);
    expect(await reported).toBe(1);
    await after.written();
    // The camera not seen again is cleared before the report, which lists the fault alone.
    expect(after.events.map((e) => e.kind)).toEqual(['alarm.raised', 'alarm.cleared', 'alarm.conditions']);
    expect(after.events.at(-1)?.data).toEqual({
      request: REQUEST,
      held: 1,
      conditions: [{ alarm: 'device-fault', digest: conditionDigest(SALT, deviceFault.key) }],
    });
  });

  it('answers at once once settled, and lists nothing the last run left when its file was missing', async () => {
    const after = run(mkdtempSync(join(tmpdir(), 'idg-carried-')));
    after.carried.load();
    after.carried.settle(SETTLE_MS);
    after.clock.advance(SETTLE_MS);
    expect(await after.carried.report(REQUEST, SALT)).toBe(0);
    await after.written();
    expect(after.events).toEqual([
      { kind: 'alarm.conditions', data: { request: REQUEST, held: 0, conditions: [] } },
    ]);
  });

  it('sends no report asked for before a stop that comes before the book settled', async () => {
    const after = run(mkdtempSync(join(tmpdir(), 'idg-carried-')));
    after.carried.load();
    after.carried.settle(SETTLE_MS);
    void after.carried.report(REQUEST, SALT);
    after.carried.stop();
    after.clock.advance(SETTLE_MS);
    await after.carried.close();
    expect(after.events).toEqual([]);
  });
});
