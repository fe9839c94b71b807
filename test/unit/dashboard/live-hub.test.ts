import { describe, expect, it } from 'vitest';
import { LiveHub, type LiveSubscriber } from '../../../src/dashboard/live-hub.js';

/** A subscriber that records what it is told, and keeps up only while `keepUp` says so. */
function recorder(keepUp = () => true) {
  const told: boolean[] = [];
  const closed: string[] = [];
  const subscriber: LiveSubscriber = {
    push: () => true,
    pushHearing: (hearing) => {
      told.push(hearing);
      return keepUp();
    },
    close: (reason) => closed.push(reason),
  };
  return { subscriber, told, closed };
}

describe('LiveHub hearing', () => {
  it('starts hearing, and tells subscribers each change once', () => {
    const hub = new LiveHub();
    const { subscriber, told } = recorder();
    hub.subscribe(subscriber);
    expect(hub.hearing).toBe(true);
    hub.publishHearing(true);
    hub.publishHearing(false);
    hub.publishHearing(false);
    expect(hub.hearing).toBe(false);
    hub.publishHearing(true);
    expect(told).toEqual([false, true]);
  });

  it('drops a subscriber too far behind to take the change, and leaves those without the callback', () => {
    const hub = new LiveHub();
    const slow = recorder(() => false);
    const quiet: LiveSubscriber = { push: () => true, close: () => undefined };
    hub.subscribe(slow.subscriber);
    hub.subscribe(quiet);
    hub.publishHearing(false);
    expect(slow.closed).toEqual(['client too slow']);
    expect(hub.size).toBe(1);
    hub.publishHearing(true);
    expect(slow.told).toEqual([false]);
  });
});
