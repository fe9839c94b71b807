import type { AlarmType, EventBody, EventData } from '../protocol/event-kinds.js';

/**
 * Keeps track of which alarm conditions are active so that each is raised once and cleared once,
 * however often the condition is observed.
 */
export type AlarmRaise = EventData<'alarm.raised'>;

export class AlarmBook {
  private readonly active = new Map<string, AlarmType>();

  constructor(private readonly emit: (event: EventBody) => void) {}

  /** Raises the alarm unless the same key is already active; returns whether it was raised. */
  raise(alarm: AlarmRaise): boolean {
    if (this.active.has(alarm.key)) return false;
    this.active.set(alarm.key, alarm.alarm);
    this.emit({ kind: 'alarm.raised', data: alarm });
    return true;
  }

  /** A one-off alarm (duress, a soft anti-passback violation): raised, never held active. */
  notify(alarm: AlarmRaise): void {
    this.emit({ kind: 'alarm.raised', data: alarm });
  }

  clear(key: string, detail?: string): boolean {
    const alarm = this.active.get(key);
    if (!alarm) return false;
    this.active.delete(key);
    const door = /^door-(?:forced|held-open):(.+)$/.exec(key)?.[1];
    this.emit({
      kind: 'alarm.cleared',
      data: { alarm, key, ...(door ? { door } : {}), ...(detail ? { detail } : {}) },
    });
    return true;
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  get activeKeys(): string[] {
    return [...this.active.keys()];
  }
}
