import { describe, expect, it } from 'vitest';
import { KeepaliveWatch } from '../../../../src/dashboard/ingest/mqtt-keepalive.js';
import { FakeClock } from '../../../../src/lib/clock.js';

function watch(intervalMs = 10_000) {
  const clock = new FakeClock();
  const events: string[] = [];
  const keepalive = new KeepaliveWatch(
    clock,
    intervalMs,
    () => events.push(`ping@${clock.now() - start}`),
    () => events.push(`silence@${clock.now() - start}`),
  );
  const start = clock.now();
  return { clock, events, keepalive };
}

describe('keep-alive', () => {
  it('sends a PINGREQ every interval while the broker answers', () => {
    const { clock, events, keepalive } = watch();
    keepalive.start();
    for (let i = 0; i < 6; i++) {
      clock.advance(5_000);
      keepalive.heard();
    }
    expect(events).toEqual(['ping@10000', 'ping@20000', 'ping@30000']);
  });

  it('declares the broker silent half an interval after an unanswered PINGREQ', () => {
    const { clock, events, keepalive } = watch();
    keepalive.start();
    clock.advance(60_000);
    expect(events).toEqual(['ping@10000', 'silence@15000']);
  });

  it('notices silence at most 1.5 intervals after the last byte heard', () => {
    const { clock, events, keepalive } = watch();
    keepalive.start();
    clock.advance(10_001);
    keepalive.heard(); // the PINGRESP, then nothing more
    clock.advance(60_000);
    expect(events).toEqual(['ping@10000', 'ping@20000', 'silence@25000']);
  });

  it('counts any inbound data as an answer, not only PINGRESP', () => {
    const { clock, events, keepalive } = watch(2_000);
    keepalive.start();
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      keepalive.heard(); // a PUBLISH streaming in
    }
    expect(events.filter((e) => e.startsWith('silence'))).toEqual([]);
  });

  it('stops for good and leaves no timer behind', () => {
    const { clock, events, keepalive } = watch();
    keepalive.start();
    keepalive.stop();
    clock.advance(60_000);
    expect(events).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('is off with an interval of 0', () => {
    const { clock, events, keepalive } = watch(0);
    keepalive.start();
    clock.advance(60_000);
    expect(events).toEqual([]);
  });
});
