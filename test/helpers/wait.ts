import type { Signal } from '../../src/lib/signal.js';

/** Resolves with the first value the signal emits that satisfies `match`; rejects after `timeoutMs`. */
export function nextFrom<T>(
  signal: Signal<T>,
  match: (value: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting on a signal`));
    }, timeoutMs);
    const off = signal.on((value) => {
      if (!match(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

/** Collects `count` matching values from a signal. */
export function collectFrom<T>(
  signal: Signal<T>,
  count: number,
  match: (value: T) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const seen: T[] = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms with ${seen.length} of ${count} values`));
    }, timeoutMs);
    const off = signal.on((value) => {
      if (!match(value)) return;
      seen.push(value);
      if (seen.length === count) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

/**
 * Polls `condition` until it holds, for states that announce no event (a lock another session
 * waits for, a file another process removes); fails after `timeoutMs` naming `what`.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
