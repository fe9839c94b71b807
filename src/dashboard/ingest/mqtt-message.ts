/** One message as the application sees it. */
export interface MqttMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  /** The broker's packet id; undefined for QoS 0. Reused by the broker once acknowledged. */
  readonly messageId: number | undefined;
  /** Set when the broker redelivers after a reconnect. */
  readonly dup: boolean;
  readonly retain: boolean;
  /**
   * The subscriber's connection that delivered it, counted 1, 2, …: a message from an older
   * connection than the current one can no longer be acknowledged (see `ack`).
   */
  readonly connection: number;
  /**
   * Lets the broker forget the message (PUBACK). Sent in arrival order, so it may wait for
   * earlier messages' acks. A no-op for QoS 0, when repeated, and once the connection that
   * delivered the message is gone: the broker then redelivers it to the next session.
   */
  ack(): void;
}
