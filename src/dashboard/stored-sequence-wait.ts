import type { LiveHub } from './live-hub.js';
import type { EventStore } from './storage/event-store.js';

/**
 * Resolves true once an event with at least sequence `seq` of that gateway is stored (already, or
 * later as the hub publishes it), false after `timeoutMs` or when the hub closes.
 */
export function waitForStoredSequence(
  hub: LiveHub,
  store: EventStore,
  wanted: { site: string; gateway: string; seq: number },
  timeoutMs: number,
): Promise<boolean> {
  const { site, gateway, seq } = wanted;
  const matches = (e: { site: string; gateway: string; seq: number }) =>
    e.site === site && e.gateway === gateway && e.seq >= seq;
  return new Promise<boolean>((resolve) => {
    let done = false;
    const finish = (result: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      resolve(result);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    // Subscribe before looking in the database so that nothing stored in between is missed.
    const unsubscribe = hub.subscribe({
      push: (events) => {
        if (events.some(matches)) finish(true);
        return true;
      },
      close: () => finish(false),
    });
    store.latestSequences().then(
      (latest) => latest.some(matches) && finish(true),
      () => finish(false),
    );
  });
}
