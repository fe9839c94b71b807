import { type Packet, parser as packetParser } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { AckWriter } from '../../../../src/dashboard/ingest/mqtt-ack-writer.js';

/** An AckWriter on MQTT 5 and the packets it has written so far. */
function writer() {
  const written: Packet[] = [];
  const parser = packetParser({ protocolVersion: 5 });
  parser.on('packet', (packet: Packet) => written.push(packet));
  const acks = new AckWriter({ write: (bytes: Buffer) => parser.parse(bytes) }, 5);
  return { acks, written };
}

const endOfTurn = () => new Promise<void>((resolve) => queueMicrotask(resolve));

describe('ack writer', () => {
  it('counts a message as in flight until its PUBACK is written, not merely released', async () => {
    const { acks, written } = writer();
    const ticket = acks.track({ messageId: 1, qos: 1 });
    if (!ticket) throw new Error('packet id 1 was free');
    expect(acks.inFlight).toBe(1);

    acks.ack(ticket);
    expect(acks.pending).toBe(0);
    expect(acks.inFlight).toBe(1);
    await endOfTurn();
    expect(written.map((p) => [p.cmd, p.messageId])).toEqual([['puback', 1]]);
    expect(acks.inFlight).toBe(0);
  });

  it('counts a QoS 2 message as in flight until the PUBCOMP answering its PUBREL is written', async () => {
    const { acks, written } = writer();
    const ticket = acks.track({ messageId: 7, qos: 2 });
    if (!ticket) throw new Error('packet id 7 was free');
    acks.ack(ticket);
    await endOfTurn();
    expect(written.map((p) => p.cmd)).toEqual(['pubrec']);
    expect(acks.inFlight).toBe(1);

    acks.complete(7);
    expect(written.map((p) => [p.cmd, p.messageId])).toEqual([
      ['pubrec', 7],
      ['pubcomp', 7],
    ]);
    expect(acks.inFlight).toBe(0);
  });

  it('writes nothing once closed, not even acks released in the same turn', async () => {
    const { acks, written } = writer();
    const ticket = acks.track({ messageId: 1, qos: 1 });
    if (!ticket) throw new Error('packet id 1 was free');
    acks.ack(ticket);
    acks.close();
    acks.complete(2);
    await endOfTurn();
    expect(written).toEqual([]);
  });
});
