import { createHash } from 'node:crypto';
import type { MqttMessage } from './mqtt-message.js';

/** A message the application holds until it is committed. */
export interface HeldMessage {
  /** Its latest delivery, the one its commit acknowledges. */
  delivery: MqttMessage;
}

/**
 * Recognises the broker's redelivery, on a newer connection, of a message still held
 * uncommitted from a connection that has ended: same topic, same payload bytes. The held copy
 * takes over the redelivery's ack (its own died with its connection), so that the redelivery is
 * neither held nor committed a second time, and its PUBACK goes out when the held copy commits.
 *
 * Costs nothing while connections do not end with messages held: held messages are hashed only
 * when a newer connection's first message arrives while some are held, and arriving messages
 * are looked up only while any of those are still uncommitted.
 */
export class Redeliveries<T extends HeldMessage> {
  private newest = 0;
  private readonly byDigest = new Map<string, T[]>();
  private readonly digests = new Map<T, string>();

  /**
   * The held copy that now answers for `message`, or undefined if `message` is to be held
   * itself. `held` lists every message held uncommitted; it is read when a newer connection's
   * first message arrives.
   */
  match(message: MqttMessage, held: () => Iterable<T>): T | undefined {
    if (message.connection > this.newest) {
      this.newest = message.connection;
      for (const copy of held()) if (!this.digests.has(copy)) this.add(copy);
    }
    if (this.digests.size === 0) return undefined;
    const copy = this.byDigest
      .get(digestOf(message.payload))
      ?.find(({ delivery }) => delivery.connection < message.connection && sameMessage(delivery, message));
    if (!copy) return undefined;
    // Matched again after a further reconnect: this delivery's connection is older then.
    copy.delivery = message;
    return copy;
  }

  /** `copy` is committed and acknowledged: nothing that arrives from now on is matched with it. */
  committed(copy: T): void {
    if (this.digests.size === 0) return;
    const digest = this.digests.get(copy);
    if (digest === undefined) return;
    this.digests.delete(copy);
    const rest = (this.byDigest.get(digest) ?? []).filter((candidate) => candidate !== copy);
    if (rest.length > 0) this.byDigest.set(digest, rest);
    else this.byDigest.delete(digest);
  }

  /** Held messages that a redelivery may be matched with. */
  get size(): number {
    return this.digests.size;
  }

  private add(copy: T): void {
    const digest = digestOf(copy.delivery.payload);
    this.digests.set(copy, digest);
    const copies = this.byDigest.get(digest);
    if (copies) copies.push(copy);
    else this.byDigest.set(digest, [copy]);
  }
}

function sameMessage(a: MqttMessage, b: MqttMessage): boolean {
  return a.topic === b.topic && a.payload.equals(b.payload);
}

function digestOf(payload: Buffer): string {
  return createHash('sha256').update(payload).digest('base64');
}
