import { describe, expect, it } from 'vitest';
import {
  alarmNotices,
  isSiteNotice,
  readAlarmNotice,
  readStoredNotice,
  storedNotice,
} from '../../../src/dashboard/cluster-channels.js';
import type { StoredEvent } from '../../../src/dashboard/storage/event-store.js';

const stored = (...numbers: number[]) => numbers.map((ingestNo) => ({ ingestNo }) as StoredEvent);

describe('the notice of stored events', () => {
  it('names the instance and the lowest and highest ingest number, in any order', () => {
    expect(storedNotice('a1', stored(7, 3, 12, 5))).toBe('a1:3:12');
    expect(storedNotice('a1', stored(9))).toBe('a1:9:9');
  });

  it('is not sent when nothing was stored', () => {
    expect(storedNotice('a1', [])).toBeUndefined();
  });
});

describe('reading the notice of stored events', () => {
  it('reads the instance and the range of ingest numbers', () => {
    expect(readStoredNotice('a1:3:12')).toEqual({ instance: 'a1', low: 3, high: 12 });
  });

  it('ignores a range that runs backwards or is wider than any one transaction', () => {
    expect(readStoredNotice('a1:12:3')).toBeUndefined();
    expect(readStoredNotice('a1:1:100002')).toBeUndefined();
  });

  it('ignores a notice that is not <instance>:<lowest>:<highest>', () => {
    expect(readStoredNotice('a1:3')).toBeUndefined();
    expect(readStoredNotice('a 1:3:12')).toBeUndefined();
  });
});

describe('the notices of changed alarms', () => {
  it('carry at most 500 alarm ids each', () => {
    const ids = Array.from({ length: 1001 }, (_, i) => i + 1);
    const notices = alarmNotices('a1', ids);
    expect(notices).toHaveLength(3);
    expect(notices.map((n) => readAlarmNotice(n)?.ids.length)).toEqual([500, 500, 1]);
    expect(readAlarmNotice(notices[2] as string)).toEqual({ instance: 'a1', ids: [1001] });
  });

  it('are ignored when malformed', () => {
    expect(readAlarmNotice('a1:')).toBeUndefined();
    expect(readAlarmNotice('a1:1,x')).toBeUndefined();
  });
});

describe('the notice of changed credentials', () => {
  it('names a site, nothing else', () => {
    expect(isSiteNotice('site-1')).toBe(true);
    expect(isSiteNotice("site'; DROP")).toBe(false);
  });
});
