import { describe, expect, it } from 'vitest';
import type { MqttMessage } from '../../../../src/dashboard/ingest/mqtt-message.js';
import { type HeldMessage, Redeliveries } from '../../../../src/dashboard/ingest/mqtt-redeliveries.js';

const topic = 'idg/site/gw-1/events';

/** A delivery on `connection`; its ack records `name` in `acks`. */
function delivery(connection: number, payload: string, acks: string[], name = `${payload}@${connection}`) {
  const message: MqttMessage = {
    topic,
    payload: Buffer.from(payload),
    qos: 1,
    messageId: 1,
    dup: connection > 1,
    retain: false,
    connection,
    ack: () => acks.push(name),
  };
  return message;
}

/** What the application holds: each delivery that was not matched. */
function holder() {
  const held: HeldMessage[] = [];
  const redeliveries = new Redeliveries<HeldMessage>();
  let reads = 0;
  const arrive = (message: MqttMessage): HeldMessage | undefined => {
    const copy = redeliveries.match(message, () => {
      reads += 1;
      return held;
    });
    if (!copy) held.push({ delivery: message });
    return copy;
  };
  const commit = (copy: HeldMessage) => {
    held.splice(held.indexOf(copy), 1);
    redeliveries.committed(copy);
    copy.delivery.ack();
  };
  return { held, redeliveries, arrive, commit, reads: () => reads };
}

describe('redeliveries of held messages', () => {
  it('matches a redelivery on a newer connection with the held copy, which then carries its ack', () => {
    const acks: string[] = [];
    const { held, arrive, commit } = holder();
    arrive(delivery(1, 'a', acks));
    const copy = arrive(delivery(2, 'a', acks));
    expect(copy).toBe(held[0]);
    expect(held).toHaveLength(1);

    commit(copy as HeldMessage);
    expect(acks).toEqual(['a@2']);
  });

  it('matches it again after a further reconnect', () => {
    const acks: string[] = [];
    const { held, arrive, commit } = holder();
    arrive(delivery(1, 'a', acks));
    arrive(delivery(2, 'a', acks));
    const copy = arrive(delivery(3, 'a', acks));
    expect(held).toHaveLength(1);
    commit(copy as HeldMessage);
    expect(acks).toEqual(['a@3']);
  });

  it('holds a second message with the same bytes on the same connection as a message of its own', () => {
    const acks: string[] = [];
    const { held, arrive } = holder();
    arrive(delivery(1, 'a', acks));
    expect(arrive(delivery(2, 'a', acks, 'first'))).toBeDefined();
    expect(arrive(delivery(2, 'a', acks, 'second'))).toBeUndefined();
    expect(held).toHaveLength(2);
  });

  it('matches each of two held copies with the same bytes once per connection', () => {
    const acks: string[] = [];
    const { held, arrive } = holder();
    arrive(delivery(1, 'a', acks, 'one'));
    arrive(delivery(1, 'a', acks, 'two'));
    const first = arrive(delivery(2, 'a', acks));
    const second = arrive(delivery(2, 'a', acks));
    expect([first, second]).toEqual([held[0], held[1]]);
    expect(arrive(delivery(2, 'a', acks))).toBeUndefined();
  });

  it('matches only the same topic and the same payload bytes', () => {
    const acks: string[] = [];
    const { arrive } = holder();
    arrive(delivery(1, 'a', acks));
    expect(arrive({ ...delivery(2, 'a', acks), topic: 'idg/site/gw-2/events' })).toBeUndefined();
    expect(arrive(delivery(2, 'a ', acks))).toBeUndefined();
  });

  it('matches nothing with a copy once it is committed', () => {
    const acks: string[] = [];
    const { held, redeliveries, arrive, commit } = holder();
    arrive(delivery(1, 'a', acks));
    arrive(delivery(2, 'b', acks));
    expect(redeliveries.size).toBe(1);
    commit(held[0] as HeldMessage);
    expect(redeliveries.size).toBe(0);
    expect(arrive(delivery(2, 'a', acks))).toBeUndefined();
  });

  it('reads the held messages once per connection, on its first message, and indexes none when none are held', () => {
    const acks: string[] = [];
    const { redeliveries, arrive, commit, held, reads } = holder();
    arrive(delivery(1, 'a', acks));
    arrive(delivery(1, 'b', acks));
    for (const copy of [...held]) commit(copy);
    arrive(delivery(2, 'c', acks));
    arrive(delivery(2, 'd', acks));
    expect(reads()).toBe(2);
    expect(redeliveries.size).toBe(0);
  });
});
