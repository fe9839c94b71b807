import type { TimerHandle } from '../lib/clock.js';
import type { DenyReason } from '../protocol/event-kinds.js';
import type { DoorFeedback, DoorPorts, DoorSettings } from './door-ports.js';
import type { TotpVerifier } from './totp-verifier.js';

type Phase =
  | { name: 'idle' }
  | { name: 'awaiting-code'; badge: string; person: string; secret: string; timer: TimerHandle }
  | { name: 'unlocked'; relock: TimerHandle };

/**
 * One door: badge, then a TOTP code on the keypad, then the lock opens for a while. Pure logic:
 * time, the lock, the credential store and the event sink are ports handed in by the gateway.
 */
export class DoorController {
  private phase: Phase = { name: 'idle' };
  private open = false;
  private openedAt = 0;
  private heldTimer: TimerHandle | undefined;
  private heldReported = false;

  constructor(
    private readonly settings: DoorSettings,
    private readonly ports: DoorPorts,
    private readonly totp: TotpVerifier,
  ) {}

  get id(): string {
    return this.settings.id;
  }

  get isUnlocked(): boolean {
    return this.phase.name === 'unlocked';
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Puts the relay into the door's fail mode before anything else happens. */
  start(initiallyOpen = false): void {
    this.applyFailMode();
    this.open = initiallyOpen;
    if (initiallyOpen) this.openedAt = this.ports.clock.now();
  }

  stop(): void {
    this.clearPhase();
    this.heldTimer?.cancel();
    this.applyFailMode();
  }

  badge(badge: string): DoorFeedback {
    const credential = this.ports.credentials.findByBadge(badge);
    if (this.phase.name === 'awaiting-code') this.clearPhase();
    if (!credential) return this.deny(badge, 'unknown-badge');
    if (credential.status === 'revoked') return this.deny(badge, 'badge-revoked', credential.person);
    if (credential.validUntil !== undefined && credential.validUntil <= this.ports.clock.now()) {
      return this.deny(badge, 'badge-expired', credential.person);
    }
    const timer = this.ports.clock.setTimeout(() => this.codeTimedOut(), this.settings.codeTimeoutMs);
    if (this.phase.name === 'unlocked') this.relock();
    this.phase = {
      name: 'awaiting-code',
      badge,
      person: credential.person,
      secret: credential.totpSecret,
      timer,
    };
    return this.tell({ door: this.id, outcome: 'awaiting-code', timeoutMs: this.settings.codeTimeoutMs });
  }

  code(digits: string): DoorFeedback {
    if (this.phase.name !== 'awaiting-code') {
      return this.tell({ door: this.id, outcome: 'ignored', why: 'no badge presented' });
    }
    const { badge, person, secret } = this.phase;
    this.clearPhase();
    const result = this.totp.verify(person, secret, digits, this.ports.clock.now());
    if (!result.ok) return this.deny(badge, result.reason, person);
    return this.grant(badge, person);
  }

  /** The door contact changed. */
  contact(open: boolean): DoorFeedback {
    if (open === this.open)
      return this.tell({
        door: this.id,
        outcome: 'ignored',
        why: `door already ${open ? 'open' : 'closed'}`,
      });
    this.open = open;
    const now = this.ports.clock.now();
    if (open) {
      this.openedAt = now;
      this.heldReported = false;
      const authorised = this.phase.name === 'unlocked';
      this.ports.emit({ kind: 'door.opened', data: { door: this.id, authorised } });
      this.heldTimer = this.ports.clock.setTimeout(() => this.heldOpen(), this.settings.heldOpenMs);
      if (!authorised) {
        this.ports.emit({ kind: 'door.forced', data: { door: this.id } });
        return this.tell({ door: this.id, outcome: 'door', state: 'forced' });
      }
      return this.tell({ door: this.id, outcome: 'door', state: 'opened' });
    }
    this.heldTimer?.cancel();
    this.heldTimer = undefined;
    this.ports.emit({ kind: 'door.closed', data: { door: this.id, openMs: now - this.openedAt } });
    // A door that was let through relocks as soon as it shuts again.
    if (this.phase.name === 'unlocked') this.relock();
    return this.tell({ door: this.id, outcome: 'door', state: 'closed' });
  }

  private grant(badge: string, person: string): DoorFeedback {
    const unlockMs = this.settings.unlockMs;
    this.ports.emit({
      kind: 'access.granted',
      data: { door: this.id, direction: 'in', person, badge, factors: ['badge', 'totp'], unlockMs },
    });
    this.ports.lock.unlock();
    this.ports.emit({
      kind: 'door.unlocked',
      data: { door: this.id, cause: 'access', durationMs: unlockMs },
    });
    this.phase = { name: 'unlocked', relock: this.ports.clock.setTimeout(() => this.relock(), unlockMs) };
    return this.tell({ door: this.id, outcome: 'granted', unlockMs, person });
  }

  private deny(badge: string, reason: DenyReason, person?: string): DoorFeedback {
    this.ports.emit({
      kind: 'access.denied',
      data: { door: this.id, direction: 'in', badge, reason, ...(person ? { person } : {}) },
    });
    return this.tell({ door: this.id, outcome: 'denied', reason });
  }

  private codeTimedOut(): void {
    if (this.phase.name !== 'awaiting-code') return;
    const { badge, person } = this.phase;
    this.phase = { name: 'idle' };
    this.deny(badge, 'code-timeout', person);
  }

  private relock(): void {
    if (this.phase.name !== 'unlocked') return;
    this.phase.relock.cancel();
    this.phase = { name: 'idle' };
    this.ports.lock.lock();
    this.ports.emit({ kind: 'door.locked', data: { door: this.id } });
  }

  private heldOpen(): void {
    if (!this.open || this.heldReported) return;
    this.heldReported = true;
    const openMs = this.ports.clock.now() - this.openedAt;
    this.ports.emit({ kind: 'door.held-open', data: { door: this.id, openMs } });
    this.tell({ door: this.id, outcome: 'door', state: 'held-open' });
  }

  private clearPhase(): void {
    if (this.phase.name === 'awaiting-code') this.phase.timer.cancel();
    if (this.phase.name === 'unlocked') this.phase.relock.cancel();
    this.phase = { name: 'idle' };
  }

  private applyFailMode(): void {
    if (this.settings.failMode === 'safe') this.ports.lock.unlock();
    else this.ports.lock.lock();
  }

  private tell(feedback: DoorFeedback): DoorFeedback {
    this.ports.feedback(feedback);
    return feedback;
  }
}
