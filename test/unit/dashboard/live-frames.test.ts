import { describe, expect, it } from 'vitest';
import { eventFrame, framesAfter } from '../../../src/dashboard/http/live-frames.js';
import type { StoredEvent } from '../../../src/dashboard/storage/event-store.js';

function stored(ingestNo: number): StoredEvent {
  return {
    id: `0190a1b2-c3d4-7e5f-8a9b-${String(ingestNo).padStart(12, '0')}`,
    ingestNo,
    kind: 'door.opened',
    site: 'hh',
    gateway: 'gw-1',
    seq: ingestNo,
    occurredAt: '2026-01-05T10:00:00.000Z',
    receivedAt: '2026-01-05T10:00:00.010Z',
    door: 'main',
    person: null,
    data: { door: 'main', authorised: true },
  };
}

/** The ids and events a chunk carries, read back as an EventSource would. */
function read(chunk: Buffer | undefined): Array<{ id: string; event: StoredEvent }> {
  if (!chunk) return [];
  return chunk
    .toString('utf8')
    .split('\n\n')
    .filter((block) => block !== '')
    .map((block) => {
      const lines = block.split('\n');
      expect(lines[1]).toBe('event: event');
      return {
        id: (lines[0] as string).replace('id: ', ''),
        event: JSON.parse((lines[2] as string).replace('data: ', '')) as StoredEvent,
      };
    });
}

describe('live stream messages', () => {
  it('sends each stored event as an event message whose id is its ingest number', () => {
    const event = stored(42);
    expect(read(eventFrame(event))).toEqual([{ id: '42', event }]);
  });

  it('hands every stream the same encoded bytes for the same batch instead of encoding it again', () => {
    const batch = [stored(1), stored(2), stored(3)];
    const first = framesAfter(batch, 0);
    const second = framesAfter(batch, 0);
    expect(second.chunk).toBe(first.chunk);
    expect(read(first.chunk).map((m) => m.id)).toEqual(['1', '2', '3']);
    expect(first.lastSent).toBe(3);
  });

  it('skips what a stream has already sent, from a catch-up overlapping the live batch', () => {
    const owed = framesAfter([stored(4), stored(5), stored(6)], 5);
    expect(read(owed.chunk).map((m) => m.id)).toEqual(['6']);
    expect(owed.lastSent).toBe(6);
  });

  it('never sends an event below one already sent, even from a batch out of order', () => {
    const owed = framesAfter([stored(8), stored(7), stored(9)], 0);
    expect(read(owed.chunk).map((m) => m.id)).toEqual(['8', '9']);
    expect(owed.lastSent).toBe(9);
  });

  it('sends nothing when nothing is new', () => {
    expect(framesAfter([stored(1), stored(2)], 2)).toEqual({ chunk: undefined, lastSent: 2 });
    expect(framesAfter([], 7)).toEqual({ chunk: undefined, lastSent: 7 });
  });
});
