import type { Logger } from './logger.js';

/**
 * A single-purpose listener list, for device adapters that expose one or two kinds of input.
 * A listener that throws is logged and does not stop the others.
 */
export class Signal<T> {
  private listeners: Array<(value: T) => void> = [];

  constructor(
    private readonly name: string,
    private readonly log?: Logger,
  ) {}

  on(listener: (value: T) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(value: T): void {
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (error) {
        if (this.log) this.log.error({ err: error, signal: this.name }, 'listener failed');
        else throw error;
      }
    }
  }

  clear(): void {
    this.listeners = [];
  }
}
