import { describe, expect, it } from 'vitest';
import { InOrderAcks } from '../../../../src/dashboard/ingest/mqtt-ack-queue.js';

describe('in-order acknowledgements', () => {
  it('releases an ack at once when every earlier message is acknowledged', () => {
    const acks = new InOrderAcks<number>();
    const first = acks.add(1);
    acks.add(2);
    expect(acks.ack(first)).toEqual([1]);
    expect(acks.pending).toBe(1);
  });

  it('holds an early ack until the messages before it are acknowledged, then releases them in order', () => {
    const acks = new InOrderAcks<number>();
    const [one, two, three] = [acks.add(1), acks.add(2), acks.add(3)];
    expect(acks.ack(three)).toEqual([]);
    expect(acks.ack(one)).toEqual([1]);
    expect(acks.ack(two)).toEqual([2, 3]);
    expect(acks.pending).toBe(0);
  });

  it('ignores a repeated ack', () => {
    const acks = new InOrderAcks<number>();
    const one = acks.add(1);
    expect(acks.ack(one)).toEqual([1]);
    expect(acks.ack(one)).toEqual([]);
  });

  it('keeps releasing in order across many batches', () => {
    const acks = new InOrderAcks<number>();
    const released: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const tickets = Array.from({ length: 500 }, (_, i) => acks.add(batch * 500 + i));
      for (const ticket of tickets.reverse()) released.push(...acks.ack(ticket));
    }
    expect(released).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(acks.pending).toBe(0);
  });
});
