import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/lib/logger.js';
import { TypedBus } from '../../../src/lib/typed-bus.js';

type Events = { tick: number; tock: string };

function busWithLog() {
  const lines: string[] = [];
  const bus = new TypedBus<Events>(createLogger({ format: 'json', write: (line) => lines.push(line) }));
  return { bus, lines };
}

describe('typed bus', () => {
  it('keeps delivering to other listeners when one throws, and logs the owner', () => {
    const { bus, lines } = busWithLog();
    const seen: number[] = [];
    bus.on('broken', 'tick', () => {
      throw new Error('boom');
    });
    bus.on('healthy', 'tick', (n) => seen.push(n));
    bus.emit('tick', 1);
    expect(seen).toEqual([1]);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: 'error',
      owner: 'broken',
      event: 'tick',
      err: { message: 'boom' },
    });
  });

  it('removes every listener of an owner on stop', () => {
    const { bus } = busWithLog();
    bus.on('door', 'tick', () => {});
    bus.on('door', 'tock', () => {});
    bus.on('other', 'tick', () => {});
    bus.removeOwner('door');
    expect(bus.listenerCount()).toBe(1);
  });

  it('lets a listener unsubscribe itself', () => {
    const { bus } = busWithLog();
    const seen: string[] = [];
    const off = bus.on('x', 'tock', (s) => seen.push(s));
    bus.emit('tock', 'a');
    off();
    bus.emit('tock', 'b');
    expect(seen).toEqual(['a']);
  });
});
