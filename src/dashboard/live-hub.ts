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
  /** Whether this instance hears every instance's events, each time that changes (LiveHub.hearing). */
  pushHearing?(hearing: boolean): boolean;
  close(reason: string): void;
}

export class LiveHub {
  private readonly subscribers = new Set<LiveSubscriber>();
  private hears = true;

  /**
   * Whether the events published here are all there are. False while this dashboard instance does
   * not hear the events other instances store (ClusterEvents): its streams then get nothing new,
   * its own events included, until what was stored meanwhile is published in order.
   */
  get hearing(): boolean {
    return this.hears;
  }

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

  publishHearing(hearing: boolean): void {
    if (hearing === this.hears) return;
    this.hears = hearing;
    for (const subscriber of this.subscribers) {
      if (subscriber.pushHearing && !subscriber.pushHearing(hearing)) {
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
