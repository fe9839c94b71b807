import type { IPublishPacket } from 'mqtt-packet';
import type { AckWriter } from './mqtt-ack-writer.js';
import type { MqttMessage } from './mqtt-message.js';
import type { ProtocolVersion } from './mqtt-reason-codes.js';
import type { ResolvedOptions } from './mqtt-subscriber-options.js';

/**
 * The PUBLISH packets one connection receives, made into messages for the application: what is
 * a protocol error, what a broker's slip that is taken with a warning (more in flight than our
 * Receive Maximum, QoS 2 on a QoS 1 subscription), and what a resend the first delivery answers
 * for. Each message is tracked for its in-order ack; ending the connection is the connection's.
 */

export type PublishIntake =
  /** Hand the message to the application. */
  | { kind: 'deliver'; message: MqttMessage }
  /** A 3.1.1 resend of a message still in flight: nothing to hand on. */
  | { kind: 'resend' }
  /** The connection must end with a protocol error. */
  | { kind: 'protocol-error'; message: string };

const noAck = () => {};

export class PublishReceiver {
  private warnedQos2 = false;
  private warnedReceiveMaximum = false;

  constructor(
    private readonly acks: AckWriter,
    private readonly options: Pick<ResolvedOptions, 'log' | 'receiveMaximum'>,
    private readonly version: ProtocolVersion,
    /** The connection's place among its subscriber's connections, on every message. */
    private readonly connection: number,
  ) {}

  receive(packet: IPublishPacket): PublishIntake {
    const { topic, qos, dup, retain } = packet;
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (topic.length === 0) {
      return { kind: 'protocol-error', message: 'PUBLISH without a topic (topic aliases are off)' };
    }
    const connection = this.connection;
    if (qos === 0) {
      const message = { topic, payload, qos, messageId: undefined, dup, retain, connection, ack: noAck };
      return { kind: 'deliver', message };
    }
    const { messageId } = packet;
    if (messageId === undefined || !Number.isInteger(messageId) || messageId < 1 || messageId > 0xffff) {
      // mqtt-packet reads a PUBLISH cut short before its id as -1; 0 is not a packet id either.
      return { kind: 'protocol-error', message: `QoS ${qos} PUBLISH without a valid packet id` };
    }
    const { receiveMaximum } = this.options;
    if (this.version === 5 && this.acks.inFlight >= receiveMaximum && !this.warnedReceiveMaximum) {
      // MQTT 5 §3.3.4 makes this a protocol error (0x93). Mosquitto 2.0 miscounts after a
      // reconnect that finds messages unacknowledged and sends a few more once acks flow: ending
      // the connection then made every catch-up a loop of reconnects. Taken, and said once.
      this.warnedReceiveMaximum = true;
      this.options.log.warn(
        { receiveMaximum, inFlight: this.acks.inFlight + 1 },
        'the broker sent more unacknowledged messages than our Receive Maximum; taken all the same',
      );
    }
    if (qos === 2 && !this.warnedQos2) {
      this.warnedQos2 = true;
      this.options.log.warn(
        { topic },
        'broker sent QoS 2 to a QoS 1 subscription; acking with PUBREC/PUBCOMP',
      );
    }
    const ticket = this.acks.track({ messageId, qos });
    if (!ticket) {
      // An id still in flight. A 3.1.1 resend (dup set) of that message: its first delivery's
      // PUBACK answers for it. Anything else under the id (a new message, or any repeat under
      // MQTT 5, which forbids resending on a connection) cannot be told from a message sent
      // after a resend raced our PUBACK: the connection ends, no PUBACK under the id goes out,
      // and the broker sends whatever it has not had acknowledged again.
      if (dup && this.version === 4) {
        this.options.log.warn(
          { topic, messageId },
          'broker resent a message still in flight; the first delivery answers for it',
        );
        return { kind: 'resend' };
      }
      return {
        kind: 'protocol-error',
        message: `PUBLISH under packet id ${messageId}, which is still in flight`,
      };
    }
    const ack = () => this.acks.ack(ticket);
    return { kind: 'deliver', message: { topic, payload, qos, messageId, dup, retain, connection, ack } };
  }
}
