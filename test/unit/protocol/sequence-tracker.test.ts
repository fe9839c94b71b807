import { describe, expect, it } from 'vitest';
import { SequenceTracker } from '../../../src/protocol/sequence-tracker.js';

describe('sequence tracker', () => {
  it('accepts consecutive sequence numbers as new', () => {
    const tracker = new SequenceTracker();
    expect(tracker.observe('gw', 1, 'a')).toEqual({ status: 'new' });
    expect(tracker.observe('gw', 2, 'b')).toEqual({ status: 'new' });
  });

  it('treats a redelivery of the same event as a duplicate', () => {
    const tracker = new SequenceTracker();
    tracker.observe('gw', 1, 'a');
    expect(tracker.observe('gw', 1, 'a')).toEqual({ status: 'duplicate' });
  });

  it('rejects a replayed sequence number carrying a different event', () => {
    const tracker = new SequenceTracker();
    tracker.observe('gw', 7, 'a');
    expect(tracker.observe('gw', 7, 'forged')).toEqual({ status: 'replayed', knownId: 'a' });
  });

  it('reports a gap and accepts the missing events when they arrive late', () => {
    const tracker = new SequenceTracker();
    tracker.observe('gw', 1, 'a');
    expect(tracker.observe('gw', 5, 'e')).toEqual({ status: 'new', gapFrom: 2, gapTo: 4 });
    expect(tracker.observe('gw', 3, 'c')).toEqual({ status: 'new' });
  });

  it('keeps gateways apart', () => {
    const tracker = new SequenceTracker();
    tracker.observe('gw-a', 1, 'a');
    expect(tracker.observe('gw-b', 1, 'b')).toEqual({ status: 'new' });
  });

  it('forgets sequence numbers that fell out of its window', () => {
    const tracker = new SequenceTracker(10);
    for (let seq = 1; seq <= 30; seq++) tracker.observe('gw', seq, `e${seq}`);
    expect(tracker.observe('gw', 2, 'old')).toEqual({ status: 'below-window' });
    expect(tracker.highest('gw')).toBe(30);
  });
});
