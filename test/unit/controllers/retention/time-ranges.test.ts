import { describe, expect, it } from 'vitest';
import { overlaps, subtract } from '../../../../src/controllers/retention/time-ranges.js';

describe('time ranges', () => {
  it('treat ranges as half-open: touching ranges do not overlap', () => {
    expect(overlaps({ from: 0, to: 10 }, { from: 10, to: 20 })).toBe(false);
    expect(overlaps({ from: 0, to: 10 }, { from: 9, to: 20 })).toBe(true);
  });

  it('cut holes out of a range, leaving the pieces in order', () => {
    expect(
      subtract({ from: 0, to: 100 }, [
        { from: 60, to: 70 },
        { from: 10, to: 20 },
      ]),
    ).toEqual([
      { from: 0, to: 10 },
      { from: 20, to: 60 },
      { from: 70, to: 100 },
    ]);
  });

  it('leave nothing when a hole covers the whole range, and everything when holes miss it', () => {
    expect(subtract({ from: 10, to: 20 }, [{ from: 0, to: 30 }])).toEqual([]);
    expect(subtract({ from: 10, to: 20 }, [{ from: 20, to: 30 }])).toEqual([{ from: 10, to: 20 }]);
  });
});
