import { describe, expect, it } from 'vitest';
import { storedNotice } from '../../../src/dashboard/cluster-events.js';
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
