import type { Clock } from '../lib/clock.js';
import type { DenyReason, EventBody } from '../protocol/event-kinds.js';

/** What the door controller needs to know about a badge and its holder. */
export interface Credential {
  badge: string;
  person: string;
  name: string;
  status: 'active' | 'revoked';
  /** Epoch milliseconds after which the badge no longer opens doors. */
  validUntil?: number;
  /** Base32 TOTP secret of the person. */
  totpSecret: string;
}

export interface CredentialLookup {
  findByBadge(badge: string): Credential | undefined;
}

/** The lock relay as the controller sees it; adapters map it onto GPIO or a simulation. */
export interface LockActuator {
  unlock(): void;
  lock(): void;
}

/**
 * What the person at the door is told (reader LED and buzzer on real hardware, the printed line in
 * `identgate sim`). One feedback follows every input the controller receives.
 */
export type DoorFeedback =
  | { door: string; outcome: 'awaiting-code'; timeoutMs: number }
  | { door: string; outcome: 'granted'; unlockMs: number; person: string }
  | { door: string; outcome: 'denied'; reason: DenyReason }
  | { door: string; outcome: 'ignored'; why: string }
  | { door: string; outcome: 'door'; state: 'opened' | 'closed' | 'forced' | 'held-open' };

export interface DoorPorts {
  clock: Clock;
  lock: LockActuator;
  credentials: CredentialLookup;
  /** Receives every event the door produces, in order. */
  emit(event: EventBody): void;
  feedback(feedback: DoorFeedback): void;
}

export interface DoorSettings {
  id: string;
  unlockMs: number;
  codeTimeoutMs: number;
  heldOpenMs: number;
  failMode: 'secure' | 'safe';
}
