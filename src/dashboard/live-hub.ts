import type { AlarmView } from './http/schemas.js';
import type { StoredEvent } from './storage/event-store.js';

/**
 * Fans stored events and alarm changes out to live clients (the dashboard's SSE streams). Each
 * subscriber has a bounded backlog: a client too slow to keep up is dropped and reconnects with
 * Last-Event-ID, catching up from the database, so a slow browser never holds memory hostage.
 */
export interface LiveSubscriber {
  push(events: readonly StoredEvent[]): boolean;
  /**
   * Alarm changes (raised, repeated, cleared, acknowledged, resolved). They are not replayed after
   * a reconnect: a client reloads the open alarms instead. Returns false when too far behind.
   */
  pushAlarms?(alarms: readonly AlarmView[]): boolean;
  close(reason: string): void;
}

export class LiveHub {
  private readonly subscribers = new Set<LiveSubscriber>();

  subscribe(subscriber: LiveSubscriber): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  publish(events: readonly StoredEvent[]): void {
    if (events.length === 0) return;
    for (const subscriber of this.subscribers) {
      if (!subscriber.push(events)) {
        this.subscribers.delete(subscriber);
        subscriber.close('client too slow');
      }
    }
  }

  publishAlarms(alarms: readonly AlarmView[]): void {
    if (alarms.length === 0) return;
    for (const subscriber of this.subscribers) {
      if (subscriber.pushAlarms && !subscriber.pushAlarms(alarms)) {
        this.subscribers.delete(subscriber);
        subscriber.close('client too slow');
      }
    }
  }

  get size(): number {
    return this.subscribers.size;
  }

  closeAll(reason: string): void {
    for (const subscriber of this.subscribers) subscriber.close(reason);
    this.subscribers.clear();
  }
}
