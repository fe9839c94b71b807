import { conditionsReport } from '../protocol/alarm-report.js';
import {
  type AlarmType,
  type EventBody,
  type EventData,
  INCIDENT_ALARMS,
  type Severity,
} from '../protocol/event-kinds.js';

export type AlarmRaise = EventData<'alarm.raised'>;

/** What the book keeps of a condition it holds: enough to clear it, also after a restart. */
export interface HeldCondition {
  alarm: AlarmType;
  key: string;
  severity: Severity;
  door?: string;
}

/**
 * Where the book keeps its conditions across a restart. Called with all of them after each
 * change; never throws (a write that fails is the store's to report).
 */
export interface ConditionStore {
  save(conditions: readonly HeldCondition[]): void;
  /**
   * Runs `tell` once every list saved so far is kept (or its write failed and was reported), after
   * those handed in before it; at once where saving is synchronous (no such method).
   */
  afterSaved?(tell: () => void): void;
}

/**
 * Keeps track of which alarm conditions are active so that each is raised once and cleared once,
 * however often the condition is observed.
 *
 * Conditions outlast a restart through the `store`: the next start hands them to `carryOver`
 * without raising them again. A carried-over condition that a subsystem observes again (raises)
 * stays; one it observes absent, it clears as any other; the rest the gateway ends after a settle
 * period (`endCarriedOver`), so that none stays open at the central side for ever. Incidents
 * (`INCIDENT_ALARMS`) are never kept: they have no end to wait for. What the gateway no longer
 * knows of (its file lost) the central side closes on the book's `report`.
 *
 * Every event of the book goes out through the store's `afterSaved`, in the order the book made
 * them: a raising reaches the outbox only once the store keeps it.
 */
export class AlarmBook {
  private readonly active = new Map<string, HeldCondition>();
  /** Keys carried over from before the restart that nothing has observed again yet. */
  private readonly unconfirmed = new Set<string>();

  constructor(
    private readonly emit: (event: EventBody) => void,
    private readonly store?: ConditionStore,
  ) {}

  /**
   * The conditions held before a restart, taken as active without an `alarm.raised`: the central
   * side has them open already.
   */
  carryOver(conditions: readonly HeldCondition[]): void {
    for (const condition of conditions) {
      if (this.active.has(condition.key) || INCIDENT_ALARMS.has(condition.alarm)) continue;
      this.active.set(condition.key, condition);
      this.unconfirmed.add(condition.key);
    }
  }

  /**
   * Raises the alarm unless the same key is already active; returns whether it was raised. A
   * carried-over key raised again is confirmed and its raising sent once more: the book is saved
   * before the first raising reaches the outbox, so a power loss in between leaves a condition the
   * central side never heard of (it counts a repeat of one it holds as an occurrence).
   */
  raise(alarm: AlarmRaise): boolean {
    if (this.active.has(alarm.key)) {
      if (this.unconfirmed.delete(alarm.key)) this.tell({ kind: 'alarm.raised', data: alarm });
      return false;
    }
    const held: HeldCondition = {
      alarm: alarm.alarm,
      key: alarm.key,
      severity: alarm.severity,
      ...(alarm.door !== undefined ? { door: alarm.door } : {}),
    };
    this.active.set(alarm.key, held);
    // Kept before it is told: a crash in between leaves a condition the next start ends, never
    // one the central side holds open and the gateway has forgotten.
    if (kept(held)) this.save();
    this.tell({ kind: 'alarm.raised', data: alarm });
    return true;
  }

  /** A one-off alarm (duress, a soft anti-passback violation): raised, never held active. */
  notify(alarm: AlarmRaise): void {
    this.tell({ kind: 'alarm.raised', data: alarm });
  }

  /**
   * Tells the central side which conditions the book holds (not incidents), answering its request
   * `request`, their keys digested under `salt`; the central side closes the others it holds open
   * for this gateway. Returns how many it holds.
   */
  report(request: string, salt: string): number {
    const held = [...this.active.values()].filter(kept);
    this.tell({ kind: 'alarm.conditions', data: conditionsReport(request, salt, held) });
    return held.length;
  }

  clear(key: string, detail?: string): boolean {
    const held = this.active.get(key);
    if (!held) return false;
    this.active.delete(key);
    this.unconfirmed.delete(key);
    const door = /^door-(?:forced|held-open):(.+)$/.exec(key)?.[1];
    this.tell({
      kind: 'alarm.cleared',
      data: { alarm: held.alarm, key, ...(door ? { door } : {}), ...(detail ? { detail } : {}) },
    });
    // Forgotten after it is told, for the same reason as in `raise`.
    if (kept(held)) this.save();
    return true;
  }

  /**
   * A subsystem found a carried-over condition still holding without raising it (a door found
   * open at start): it stays, and its raising is sent once more, as in `raise`. Returns whether
   * the key was carried over and unconfirmed.
   */
  confirm(key: string, detail = 'still in force after the gateway restarted'): boolean {
    if (!this.unconfirmed.delete(key)) return false;
    const held = this.active.get(key) as HeldCondition;
    this.tell({ kind: 'alarm.raised', data: { ...held, detail } });
    return true;
  }

  /** Whether the key was carried over from before the restart and nothing has observed it since. */
  isCarriedOver(key: string): boolean {
    return this.unconfirmed.has(key);
  }

  /** The carried-over conditions nothing has observed again yet. */
  get carriedOver(): HeldCondition[] {
    return [...this.unconfirmed].map((key) => this.active.get(key) as HeldCondition);
  }

  /**
   * Clears the key if it is carried over and nothing observed it since; returns whether it did. A
   * subsystem whose first look finds the condition absent, but that only clears on a change, says
   * so with this.
   */
  endCarriedOver(key: string, detail: string): boolean {
    return this.unconfirmed.has(key) && this.clear(key, detail);
  }

  /** Clears every carried-over condition nothing has observed again; returns their keys. */
  endAllCarriedOver(detail: string): string[] {
    const keys = [...this.unconfirmed];
    for (const key of keys) this.clear(key, detail);
    return keys;
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  get activeKeys(): string[] {
    return [...this.active.keys()];
  }

  private save(): void {
    this.store?.save([...this.active.values()].filter(kept));
  }

  private tell(event: EventBody): void {
    if (this.store?.afterSaved) this.store.afterSaved(() => this.emit(event));
    else this.emit(event);
  }
}

/** Conditions outlast a restart; incidents raised once per run do not. */
const kept = (condition: HeldCondition): boolean => !INCIDENT_ALARMS.has(condition.alarm);
