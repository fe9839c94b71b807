import { describe, expect, it } from 'vitest';
import { outboxFillingAlarm } from '../../../src/gateway/outbox-alarms.js';

const HOUR = 3_600_000;
const at = (fraction: number, oldestMs = 0) => ({ records: 10, bytes: 10 * 1024, fraction, oldestMs });

describe('the outbox-filling alarm', () => {
  it('warns well before the bound and turns critical closer to it', () => {
    expect(outboxFillingAlarm(at(0))).toBeUndefined();
    expect(outboxFillingAlarm(at(0.49))).toBeUndefined();
    expect(outboxFillingAlarm(at(0.5))?.severity).toBe('warning');
    expect(outboxFillingAlarm(at(0.79))?.severity).toBe('warning');
    expect(outboxFillingAlarm(at(0.8))?.severity).toBe('critical');
  });

  it('also by the age of the oldest unsent event', () => {
    expect(outboxFillingAlarm(at(0.01, 11 * HOUR))).toBeUndefined();
    expect(outboxFillingAlarm(at(0.01, 12 * HOUR))?.severity).toBe('warning');
    expect(outboxFillingAlarm(at(0.01, 48 * HOUR))?.severity).toBe('critical');
  });

  it('says how many, how much and how old', () => {
    expect(outboxFillingAlarm(at(0.5, 90 * 60_000))?.detail).toBe(
      '10 events (10 KiB, 50 % of the bound) not yet acknowledged; oldest 90 min',
    );
  });
});
