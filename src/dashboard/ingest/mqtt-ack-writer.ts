import { generate } from 'mqtt-packet';
import { type AckTicket, InOrderAcks } from './mqtt-ack-queue.js';
import type { ProtocolVersion } from './mqtt-reason-codes.js';

export interface InFlight {
  messageId: number;
  qos: 1 | 2;
}

/** Where the acks go: the connection's socket. */
export interface AckSink {
  write(bytes: Buffer): unknown;
}

/**
 * Turns the application's acks into PUBACKs (PUBREC for QoS 2) on one connection: in arrival
 * order, and written together at the end of the turn, since an application acks a committed
 * batch in one loop. After `close()` nothing more is written: the packet ids then belong to
 * the next session's messages.
 */
export class AckWriter {
  private readonly order = new InOrderAcks<InFlight>();
  /** Packet ids delivered and not yet released: the broker may not reuse them meanwhile. */
  private readonly inUse = new Set<number>();
  private releasing: InFlight[] = [];
  /** QoS 2 messages whose PUBREC is written and whose PUBREL has not come yet. */
  private readonly awaitingRelease = new Set<number>();
  private open = true;

  constructor(
    private readonly socket: AckSink,
    private readonly version: ProtocolVersion,
  ) {}

  /**
   * Undefined for a packet id still in flight: the broker sent that message again on this
   * connection (3.1.1 allows it). Tracked twice, its second PUBACK would acknowledge whatever
   * the broker sends next under the id, before that is committed.
   */
  track(message: InFlight): AckTicket<InFlight> | undefined {
    if (this.inUse.has(message.messageId)) return undefined;
    this.inUse.add(message.messageId);
    return this.order.add(message);
  }

  ack(ticket: AckTicket<InFlight>): void {
    if (!this.open) return;
    const released = this.order.ack(ticket);
    if (released.length === 0) return;
    if (this.releasing.length === 0) queueMicrotask(() => this.flush());
    for (const message of released) {
      this.inUse.delete(message.messageId);
      this.releasing.push(message);
    }
  }

  /** Writes the released acks now rather than at the end of the turn. */
  flush(): void {
    const released = this.releasing;
    this.releasing = [];
    if (released.length === 0 || !this.open) return;
    const opts = { protocolVersion: this.version };
    const packets = released.map(({ messageId, qos }) =>
      generate({ cmd: qos === 1 ? 'puback' : 'pubrec', messageId, reasonCode: 0 }, opts),
    );
    for (const { messageId, qos } of released) if (qos === 2) this.awaitingRelease.add(messageId);
    this.socket.write(packets.length === 1 ? (packets[0] as Buffer) : Buffer.concat(packets));
  }

  /** Answers the broker's PUBREL, the second half of a QoS 2 exchange, with PUBCOMP. */
  complete(messageId: number): void {
    this.awaitingRelease.delete(messageId);
    if (!this.open) return;
    this.socket.write(
      generate({ cmd: 'pubcomp', messageId, reasonCode: 0 }, { protocolVersion: this.version }),
    );
  }

  close(): void {
    this.open = false;
    this.releasing = [];
  }

  /** Messages delivered and not yet released to the broker. */
  get pending(): number {
    return this.order.pending;
  }

  /**
   * Messages delivered whose PUBACK (for QoS 2, PUBCOMP) has not been written yet, including
   * acks released and waiting for the end of the turn: what the broker counts against our
   * Receive Maximum (MQTT 5 §3.3.4).
   */
  get inFlight(): number {
    return this.order.pending + this.releasing.length + this.awaitingRelease.size;
  }
}
