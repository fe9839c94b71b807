import type { TimerHandle } from '../lib/clock.js';
import type { DenyReason, UnlockCause } from '../protocol/event-kinds.js';
import { badgeKey } from './access-rules.js';
import {
  antiPassbackViolated,
  doorClosed,
  doorForced,
  doorHeldOpen,
  duressEntered,
  internalErrorAlarm,
  resumeDoorAlarms,
} from './door-alarms.js';
import type { Credential, DoorFeedback, DoorPorts, DoorSettings } from './door-ports.js';
import { badgeFailure, readerFailure } from './lockout-alarms.js';

type Direction = 'in' | 'out';

interface Attempt {
  badge: string;
  credential: Credential;
  direction: Direction;
  softAntiPassback: boolean;
}

/** A badge accepted so far, waiting for its code. */
interface PendingEntry {
  attempt: Attempt;
  timer: TimerHandle;
}

/** The lock released for a while. */
interface Release {
  cause: UnlockCause;
  relock: TimerHandle;
}

/**
 * One door: badge, then (for entry) a TOTP code on the keypad, then the lock opens for a while
 * and locks again when the door closes or the time runs out. Pure logic: time, the lock, the
 * credential store, the site rules, the room and the event sink are ports handed in.
 *
 * Every badge that is decided produces exactly one `access.granted` or `access.denied` (one whose
 * code another badge cut short too, as `code-timeout`); the lock is released only for a grant, a
 * request-to-exit, a remote command, an evacuation or the door's fail-safe mode.
 */
export class DoorController {
  private pending: PendingEntry | undefined;
  private release: Release | undefined;
  private open = false;
  private openedAt = 0;
  private heldTimer: TimerHandle | undefined;
  /** Why the lock is held released regardless of phase: evacuation or fail-safe after an error. */
  private held: 'evacuation' | 'fail-safe' | undefined;
  private companionTimer: TimerHandle | undefined;
  /** The contact could not tell at start whether the door stood open, and has not told since. */
  private contactUnknown = false;
  /** A relock the relay refused: `door.locked` waits until a retried write holds. */
  private lockOwed = false;

  constructor(
    readonly settings: DoorSettings,
    private readonly ports: DoorPorts,
  ) {}

  get id(): string {
    return this.settings.id;
  }

  get isReleased(): boolean {
    return this.release !== undefined || this.held !== undefined;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Puts the relay into the door's fail mode; the first thing done at boot, before any state is read. */
  enterFailMode(): void {
    this.applyFailMode();
  }

  /**
   * Normal operation: the door is locked (or held released by an evacuation in force).
   * `initiallyOpen` undefined: the contact cannot tell (it did not start).
   */
  start(initiallyOpen?: boolean): void {
    this.open = initiallyOpen ?? false;
    this.contactUnknown = initiallyOpen === undefined;
    if (initiallyOpen) this.openedAt = this.ports.clock.now();
    resumeDoorAlarms(this.ports.rules.alarms, this.id, initiallyOpen);
    if (this.ports.rules.evacuation) this.setEvacuation(true);
    else this.ports.lock.lock();
  }

  stop(): void {
    this.endPending('the gateway stopped before the code was entered');
    this.cancelRelease();
    this.heldTimer?.cancel();
    this.companionTimer?.cancel();
    this.applyFailMode();
  }

  /** A badge at the entry reader (`in`) or the exit reader (`out`). */
  badge(badge: string, direction: Direction = 'in'): DoorFeedback {
    const displaced = this.pending?.attempt;
    this.cancelPending();
    // A reader that reads the same card again while its holder types continues that attempt.
    const repeat = displaced?.badge === badge && displaced.direction === direction;
    if (!repeat) {
      // Digits typed before this badge are not its code: a stray key would turn it into a wrong one.
      this.ports.keypad.clearEntry();
      // The person whose code was awaited gets their decision too: their attempt ends here.
      if (displaced)
        this.recordDenial(displaced.badge, 'code-timeout', displaced.direction, displaced.credential.person);
    }
    const { rules, room, clock } = this.ports;
    const now = clock.now();
    const credential = this.ports.credentials.findByBadge(badge);
    const needsCode = direction === 'in' || this.settings.exitRequiresCode;
    const verdict = rules.evaluate({
      badge,
      credential,
      door: this.id,
      direction,
      room,
      needsCode,
      nowMs: now,
    });
    const [reason] = verdict.reasons;
    if (reason || !credential) {
      if (reason === 'unknown-badge') readerFailure(this.ports, this.id, direction, now);
      return this.deny(badge, reason ?? 'unknown-badge', direction, credential?.person);
    }
    const attempt: Attempt = { badge, credential, direction, softAntiPassback: verdict.softAntiPassback };
    if (!needsCode) return this.complete(attempt, ['badge']);
    const timer = clock.setTimeout(() => this.codeTimedOut(), this.settings.codeTimeoutMs);
    this.pending = { attempt, timer };
    return this.tell({ door: this.id, outcome: 'awaiting-code', timeoutMs: this.settings.codeTimeoutMs });
  }

  /** Digits typed on the keypad and submitted. */
  code(digits: string): DoorFeedback {
    if (!this.pending) return this.tell({ door: this.id, outcome: 'ignored', why: 'no badge presented' });
    const { attempt } = this.pending;
    this.cancelPending();
    const { badge, credential, direction } = attempt;
    const now = this.ports.clock.now();
    // A badge without a secret is a revoked one, refused before its code is asked for.
    if (credential.totpSecret === undefined)
      return this.deny(badge, 'badge-revoked', direction, credential.person);
    const result = this.ports.totp.verify(credential.person, credential.totpSecret, digits, now);
    if (!result.ok) {
      badgeFailure(this.ports, this.id, badge, credential.person, now);
      readerFailure(this.ports, this.id, direction, now);
      return this.deny(badge, result.reason, direction, credential.person);
    }
    this.ports.rules.badgeThrottle.succeed(badgeKey(badge));
    if (result.duress)
      duressEntered(this.ports.rules.alarms, this.settings, { person: credential.person, badge }, now);
    return this.complete(attempt, ['badge', 'totp']);
  }

  /** The request-to-exit button inside: opens without a badge and without an alarm. */
  requestToExit(): DoorFeedback {
    this.releaseFor('request-to-exit', this.settings.unlockMs);
    return this.tell({ door: this.id, outcome: 'granted', unlockMs: this.settings.unlockMs });
  }

  /** An authorised command from the central side. */
  remoteUnlock(durationMs = this.settings.unlockMs): void {
    this.releaseFor('remote', durationMs);
  }

  /** Evacuation holds every door released until it ends. */
  setEvacuation(active: boolean): void {
    if (active) {
      if (this.held === 'evacuation') return;
      this.held = 'evacuation';
      this.ports.lock.unlock();
      this.ports.emit({ kind: 'door.unlocked', data: { door: this.id, cause: 'evacuation' } });
      return;
    }
    if (this.held !== 'evacuation') return;
    this.held = undefined;
    if (!this.release) this.secure();
  }

  /** A lockdown began: a door released for access locks at once and a waiting entry is refused. */
  lockdownStarted(): void {
    if (this.pending) {
      const { attempt } = this.pending;
      this.cancelPending();
      this.deny(attempt.badge, 'lockdown', attempt.direction, attempt.credential.person);
    }
    if (this.release?.cause === 'access') this.relock();
  }

  /** Something went wrong inside the gateway: the door goes to its fail mode and an alarm is raised. */
  internalError(message: string): void {
    this.endPending('an internal error set the door to its fail mode before the code was entered');
    this.cancelRelease();
    if (this.settings.failMode === 'safe') this.held = 'fail-safe';
    this.applyFailMode();
    internalErrorAlarm(this.ports.rules.alarms, this.id, message);
    this.tell({ door: this.id, outcome: 'ignored', why: 'internal error; door set to its fail mode' });
  }

  /**
   * The relay took a state later than it was told to: a write retried after a failure went
   * through. A relock it had refused is announced now.
   */
  relayChanged(state: 'locked' | 'unlocked'): void {
    if (state !== 'locked' || !this.lockOwed) return;
    this.lockOwed = false;
    this.ports.emit({ kind: 'door.locked', data: { door: this.id } });
  }

  /** The door contact changed. */
  contact(open: boolean): DoorFeedback {
    if (this.contactUnknown) {
      this.contactUnknown = false;
      // The first word of a contact that could not tell at start: a door found closed ends the
      // forced and held-open alarms kept meanwhile (one found open goes on as an opening).
      if (!open) doorClosed(this.ports.rules.alarms, this.id);
    }
    if (open === this.open) {
      return this.tell({
        door: this.id,
        outcome: 'ignored',
        why: `door already ${open ? 'open' : 'closed'}`,
      });
    }
    this.open = open;
    const now = this.ports.clock.now();
    const { alarms } = this.ports.rules;
    if (open) {
      this.openedAt = now;
      const authorised = this.isReleased;
      this.ports.emit({ kind: 'door.opened', data: { door: this.id, authorised } });
      if (this.held !== 'evacuation') {
        this.heldTimer = this.ports.clock.setTimeout(() => this.heldOpen(), this.settings.heldOpenMs);
      }
      if (!authorised) {
        this.ports.emit({ kind: 'door.forced', data: { door: this.id } });
        doorForced(alarms, this.settings);
        return this.tell({ door: this.id, outcome: 'door', state: 'forced' });
      }
      return this.tell({ door: this.id, outcome: 'door', state: 'opened' });
    }
    this.heldTimer?.cancel();
    this.heldTimer = undefined;
    this.ports.emit({ kind: 'door.closed', data: { door: this.id, openMs: now - this.openedAt } });
    doorClosed(alarms, this.id);
    // A door that was let through relocks as soon as it shuts again.
    if (this.release) this.relock();
    return this.tell({ door: this.id, outcome: 'door', state: 'closed' });
  }

  private complete(attempt: Attempt, factors: Array<'badge' | 'totp'>): DoorFeedback {
    const { room, clock } = this.ports;
    const now = clock.now();
    const window = room.settings.twoPersonWindowMs;
    if (attempt.direction === 'in' && window !== undefined) {
      const first = room.companionWaiting(now);
      if (!first || first.person === attempt.credential.person) {
        room.setCompanion({
          person: attempt.credential.person,
          badge: attempt.badge,
          door: this.id,
          at: now,
        });
        this.companionTimer?.cancel();
        this.companionTimer = clock.setTimeout(() => this.companionTimedOut(attempt), window);
        return this.tell({ door: this.id, outcome: 'awaiting-second-person', timeoutMs: window });
      }
      room.setCompanion(undefined);
      this.companionTimer?.cancel();
      this.recordGrant(
        { person: first.person, badge: first.badge },
        attempt.direction,
        factors,
        false,
        attempt.credential.person,
      );
      return this.grant(attempt, factors, first.person);
    }
    return this.grant(attempt, factors);
  }

  private grant(attempt: Attempt, factors: Array<'badge' | 'totp'>, companion?: string): DoorFeedback {
    const { badge, credential, direction, softAntiPassback } = attempt;
    this.recordGrant({ person: credential.person, badge }, direction, factors, softAntiPassback, companion);
    if (softAntiPassback) {
      const who = { person: credential.person, badge };
      antiPassbackViolated(this.ports.rules.alarms, this.settings, who, direction, this.ports.clock.now());
    }
    this.releaseFor('access', this.settings.unlockMs);
    return this.tell({
      door: this.id,
      outcome: 'granted',
      unlockMs: this.settings.unlockMs,
      person: credential.person,
    });
  }

  private recordGrant(
    who: { person: string; badge: string },
    direction: Direction,
    factors: Array<'badge' | 'totp'>,
    antiPassbackViolation: boolean,
    companion?: string,
  ): void {
    const { room, clock } = this.ports;
    this.ports.emit({
      kind: 'access.granted',
      data: {
        door: this.id,
        direction,
        person: who.person,
        badge: who.badge,
        factors,
        unlockMs: this.settings.unlockMs,
        ...(companion ? { companion } : {}),
        ...(antiPassbackViolation ? { antiPassbackViolation } : {}),
      },
    });
    if (room.record(who.person, direction, clock.now())) {
      this.ports.emit({
        kind: 'room.occupancy',
        data: { room: room.settings.id, occupants: room.occupants },
      });
    }
  }

  private deny(badge: string, reason: DenyReason, direction: Direction, person?: string): DoorFeedback {
    this.recordDenial(badge, reason, direction, person);
    return this.tell({ door: this.id, outcome: 'denied', reason });
  }

  /** The event only: for an attempt another input ended, whose feedback is that input's. */
  private recordDenial(
    badge: string,
    reason: DenyReason,
    direction: Direction,
    person?: string,
    detail?: string,
  ): void {
    this.ports.emit({
      kind: 'access.denied',
      data: {
        door: this.id,
        direction,
        badge,
        reason,
        ...(person ? { person } : {}),
        ...(detail ? { detail } : {}),
      },
    });
  }

  /** An entry awaiting its code that the gateway itself ends: its holder gets a decision too. */
  private endPending(detail: string): void {
    const attempt = this.pending?.attempt;
    this.cancelPending();
    if (attempt)
      this.recordDenial(attempt.badge, 'code-timeout', attempt.direction, attempt.credential.person, detail);
  }

  private codeTimedOut(): void {
    if (!this.pending) return;
    const { attempt } = this.pending;
    this.pending = undefined;
    this.deny(attempt.badge, 'code-timeout', attempt.direction, attempt.credential.person);
  }

  private companionTimedOut(first: Attempt): void {
    const waiting = this.ports.room.companionWaiting(this.ports.clock.now());
    if (!waiting || waiting.person !== first.credential.person || waiting.door !== this.id) return;
    this.ports.room.setCompanion(undefined);
    this.deny(first.badge, 'two-person-rule', first.direction, first.credential.person);
  }

  private releaseFor(cause: UnlockCause, durationMs: number): void {
    this.cancelRelease();
    this.ports.lock.unlock();
    this.ports.emit({ kind: 'door.unlocked', data: { door: this.id, cause, durationMs } });
    this.release = { cause, relock: this.ports.clock.setTimeout(() => this.relock(), durationMs) };
  }

  private relock(): void {
    if (!this.release) return;
    this.cancelRelease();
    if (this.held === undefined) this.secure();
  }

  /**
   * `door.locked` says the relay holds the door: a write that failed (the relay's device fault is
   * raised, and it retries) is announced once a retry goes through (relayChanged).
   */
  private secure(): void {
    this.lockOwed = false;
    this.ports.lock.lock();
    if (this.ports.lock.state === 'locked') this.ports.emit({ kind: 'door.locked', data: { door: this.id } });
    else this.lockOwed = true;
  }

  private heldOpen(): void {
    if (!this.open) return;
    const openMs = this.ports.clock.now() - this.openedAt;
    this.ports.emit({ kind: 'door.held-open', data: { door: this.id, openMs } });
    doorHeldOpen(this.ports.rules.alarms, this.settings, openMs);
    this.tell({ door: this.id, outcome: 'door', state: 'held-open' });
  }

  private cancelPending(): void {
    this.pending?.timer.cancel();
    this.pending = undefined;
  }

  private cancelRelease(): void {
    this.release?.relock.cancel();
    this.release = undefined;
  }

  private applyFailMode(): void {
    if (this.settings.failMode === 'safe' || this.held === 'evacuation') this.ports.lock.unlock();
    else this.ports.lock.lock();
  }

  private tell(feedback: DoorFeedback): DoorFeedback {
    this.ports.feedback(feedback);
    return feedback;
  }
}
