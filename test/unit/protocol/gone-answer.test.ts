import { describe, expect, it } from 'vitest';
import { goneReason, readGone } from '../../../src/protocol/commands.js';

/** The gateway's `gone:` answer to a resend, as the central side reads it. */
describe('a gone answer', () => {
  it('names what the journal holds, and reads back as written', () => {
    const holding = goneReason(3, 8, { oldestHeld: 11, highestIssued: 20 });
    const empty = goneReason(3, 8, { oldestHeld: undefined, highestIssued: 20 });
    expect(empty).toBe('gone: events 3-8 are no longer in the outbox (holds none, highest issued 20)');
    expect(readGone(holding)).toEqual({ oldestHeld: 11, highestIssued: 20 });
    expect(readGone(empty)).toEqual({ oldestHeld: undefined, highestIssued: 20 });
  });

  it('reads nothing from an answer that names no extent, or numbers past the safe integers', () => {
    expect(readGone('gone: events 3-4 are no longer in the outbox')).toBeUndefined();
    expect(readGone('EIO: i/o error (holds from 1, highest issued 2)')).toBeUndefined();
    expect(
      readGone('gone: events 3-4 are no longer in the outbox (holds none, highest issued 9999999999999999)'),
    ).toBeUndefined();
    expect(
      readGone('gone: events 3-4 are no longer in the outbox (holds from 1, highest issued 2) and more'),
    ).toBeUndefined();
  });
});
