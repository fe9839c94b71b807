import { describe, expect, it } from 'vitest';
import { RefusalBudget } from '../../../src/gateway/refusal-budget.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

/** How many refusals a gateway reports one by one, and the summary of the rest. */
describe('refusal budget', () => {
  function budget() {
    const clock = new FakeClock();
    const summaries: number[] = [];
    const refusals = new RefusalBudget(
      clock,
      silentLogger,
      'commands',
      (detail) => summaries.push(Number(detail.split(' ')[0])),
      3,
      60_000,
    );
    const admit = (n: number) => Array.from({ length: n }, () => refusals.admit());
    return { clock, summaries, refusals, admit };
  }

  it('reports the first refusals of a window one by one and the rest together when the window ends', () => {
    const { clock, summaries, admit } = budget();
    expect(admit(5)).toEqual([true, true, true, false, false]);
    clock.advance(59_999);
    expect(summaries).toEqual([]);
    clock.advance(1);
    expect(summaries).toEqual([2]);
    expect(admit(1)).toEqual([true]);
  });

  it('opens a new window when the clock steps back', () => {
    const { clock, summaries, admit } = budget();
    expect(admit(3)).toEqual([true, true, true]);
    clock.advance(-3_600_000); // a restore to a saved time
    expect(admit(4)).toEqual([true, true, true, false]);
    clock.advance(60_000);
    expect(summaries).toEqual([1]);
  });

  it('reports what it holds when closed', () => {
    const { summaries, refusals, admit } = budget();
    admit(4);
    refusals.close();
    expect(summaries).toEqual([1]);
  });
});
