/**
 * Releases acknowledgements in the order the messages arrived. MQTT requires a client to send
 * PUBACKs in the order it received the PUBLISH packets (3.1.1 §4.6, 5.0 §4.6), while the
 * application may commit and acknowledge in any order; an early ack waits here for the ones
 * before it.
 */
export interface AckTicket<T> {
  readonly value: T;
  acked: boolean;
}

export class InOrderAcks<T> {
  private queue: Array<AckTicket<T>> = [];
  private head = 0;

  /** Registers a received message; the ticket is what the application later acknowledges. */
  add(value: T): AckTicket<T> {
    const ticket: AckTicket<T> = { value, acked: false };
    this.queue.push(ticket);
    return ticket;
  }

  /** Marks the ticket as acknowledged; returns the values now releasable, oldest first. */
  ack(ticket: AckTicket<T>): T[] {
    if (ticket.acked) return [];
    ticket.acked = true;
    const released: T[] = [];
    while (this.head < this.queue.length) {
      const next = this.queue[this.head] as AckTicket<T>;
      if (!next.acked) break;
      released.push(next.value);
      this.head += 1;
    }
    this.compact();
    return released;
  }

  /** Messages received and not yet released (acknowledged or waiting for an earlier one). */
  get pending(): number {
    return this.queue.length - this.head;
  }

  private compact(): void {
    // Dropping the released prefix now and then keeps shift() costs off the hot path.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
