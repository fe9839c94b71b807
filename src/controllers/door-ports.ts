import type { Clock } from '../lib/clock.js';
import type { DenyReason, EventBody } from '../protocol/event-kinds.js';
import type { AccessRules } from './access-rules.js';
import type { RoomState } from './room-state.js';
import type { WeeklySchedule } from './schedule.js';
import type { TotpVerifier } from './totp-verifier.js';

/** What the door controller needs to know about a badge and its holder. */
export interface Credential {
  badge: string;
  person: string;
  /** Absent for a revoked badge (see SyncedCredential). */
  name?: string;
  status: 'active' | 'revoked';
  /** Epoch milliseconds before which the badge does not open doors. */
  validFrom?: number;
  /** Epoch milliseconds after which the badge no longer opens doors. */
  validUntil?: number;
  /** Base32 TOTP secret of the person; absent for a revoked badge. */
  totpSecret?: string;
  /** When the person may enter; absent means at any time. */
  schedule?: WeeklySchedule;
  /** Day (YYYY-MM-DD) of the last background check and the last security training. */
  backgroundCheckOn?: string;
  trainingOn?: string;
  /** May enter an empty room where the first-person-in rule applies (a supervisor, say). */
  mayOpenRoom?: boolean;
}

export interface CredentialLookup {
  findByBadge(badge: string): Credential | undefined;
  /** Epoch milliseconds of the last successful synchronisation with the central side. */
  readonly syncedAt: number;
  all(): Iterable<Credential>;
}

/**
 * The lock relay as the controller sees it; adapters map it onto GPIO or a simulation. `state` is
 * what the relay carries: a command whose write failed leaves it as it was.
 */
export interface LockActuator {
  readonly state: 'locked' | 'unlocked';
  unlock(): void;
  lock(): void;
}

/** The door's keypad as the controller sees it: it collects digits until they are submitted. */
export interface KeypadEntry {
  /** Forgets digits typed but not yet submitted. */
  clearEntry(): void;
}

/**
 * What the person at the door is told (reader LED and buzzer on real hardware, the printed line in
 * `identgate sim`). One feedback follows every input the controller receives.
 */
export type DoorFeedback =
  | { door: string; outcome: 'awaiting-code'; timeoutMs: number }
  | { door: string; outcome: 'awaiting-second-person'; timeoutMs: number }
  | { door: string; outcome: 'granted'; unlockMs: number; person?: string }
  | { door: string; outcome: 'denied'; reason: DenyReason }
  | { door: string; outcome: 'ignored'; why: string }
  | { door: string; outcome: 'door'; state: 'opened' | 'closed' | 'forced' | 'held-open' };

/** Tells whether the gateway's clock is known to be synchronised (TOTP depends on it). */
export interface ClockSyncStatus {
  synchronised(): boolean;
}

export interface EventSink {
  emit(event: EventBody): void;
}

export interface DoorSettings {
  id: string;
  room: string;
  unlockMs: number;
  codeTimeoutMs: number;
  heldOpenMs: number;
  failMode: 'secure' | 'safe';
  /** Whether the exit reader also asks for a TOTP code. */
  exitRequiresCode: boolean;
}

/** Everything a door controller is handed: its ports, and the site rules and room it shares. */
export interface DoorPorts {
  clock: Clock;
  lock: LockActuator;
  keypad: KeypadEntry;
  credentials: CredentialLookup;
  rules: AccessRules;
  room: RoomState;
  totp: TotpVerifier;
  /** Receives every event the door produces, in order. */
  emit(event: EventBody): void;
  feedback(feedback: DoorFeedback): void;
}
