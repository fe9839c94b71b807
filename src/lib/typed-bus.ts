import type { Logger } from './logger.js';

/**
 * One typed event bus per process. Every listener has an owner; `removeOwner` detaches all of
 * an owner's listeners when it stops. A listener that throws is logged with its owner and does
 * not keep the other listeners from running.
 */
export type Listener<T> = (payload: T) => void;

interface Entry {
  owner: string;
  listener: Listener<never>;
}

export class TypedBus<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Entry[]>();

  constructor(private readonly log: Logger) {}

  on<K extends keyof Events>(owner: string, event: K, listener: Listener<Events[K]>): () => void {
    const entry: Entry = { owner, listener: listener as Listener<never> };
    const list = this.listeners.get(event) ?? [];
    list.push(entry);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event);
      if (current)
        this.listeners.set(
          event,
          current.filter((e) => e !== entry),
        );
    };
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const { owner, listener } of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        this.log.error({ err: error, owner, event: String(event) }, 'event listener failed');
      }
    }
  }

  removeOwner(owner: string): void {
    for (const [event, list] of this.listeners) {
      this.listeners.set(
        event,
        list.filter((entry) => entry.owner !== owner),
      );
    }
  }

  listenerCount(event?: keyof Events): number {
    if (event !== undefined) return this.listeners.get(event)?.length ?? 0;
    let total = 0;
    for (const list of this.listeners.values()) total += list.length;
    return total;
  }
}
