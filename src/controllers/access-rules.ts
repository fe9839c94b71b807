import type { DenyReason } from '../protocol/event-kinds.js';
import type { AlarmBook } from './alarm-book.js';
import { type ComplianceSettings, isCompliant } from './compliance.js';
import type { ClockSyncStatus, Credential, CredentialLookup } from './door-ports.js';
import { FailureThrottle, type ThrottleSettings } from './failure-throttle.js';
import type { RoomState } from './room-state.js';
import { isWithinSchedule } from './schedule.js';

/**
 * The site-wide rules every door applies before it asks for a code: credential validity, time
 * windows, compliance, throttling, lockdown, clock trust, the age of the offline credential
 * cache, anti-passback and the first-person-in rule. Deny wins: every rule that objects is
 * collected and the first in a fixed order becomes the reason.
 */
export interface AccessRulesSettings {
  compliance: ComplianceSettings;
  badgeThrottle: ThrottleSettings;
  readerThrottle: ThrottleSettings;
  /** The cache of credentials stops granting this long after the last synchronisation. */
  offlineHorizonMs: number;
}

export interface EntryAttempt {
  badge: string;
  credential: Credential | undefined;
  door: string;
  direction: 'in' | 'out';
  room: RoomState;
  /** Whether this passage will ask for a TOTP code (which needs a trusted clock). */
  needsCode: boolean;
  nowMs: number;
}

export interface Verdict {
  /** All objections, most important first; empty means the attempt may go on. */
  reasons: DenyReason[];
  /** A soft anti-passback violation: the attempt goes on, an alarm is raised. */
  softAntiPassback: boolean;
}

export class AccessRules {
  readonly badgeThrottle: FailureThrottle;
  readonly readerThrottle: FailureThrottle;
  siteLockdown = false;
  evacuation = false;

  constructor(
    readonly settings: AccessRulesSettings,
    private readonly credentials: CredentialLookup,
    private readonly clockSync: ClockSyncStatus,
    readonly alarms: AlarmBook,
  ) {
    this.badgeThrottle = new FailureThrottle(settings.badgeThrottle);
    this.readerThrottle = new FailureThrottle(settings.readerThrottle);
  }

  evaluate(attempt: EntryAttempt): Verdict {
    const { badge, credential, door, direction, room, needsCode, nowMs } = attempt;
    const reasons: DenyReason[] = [];
    if (this.readerThrottle.isLocked(readerKey(door, direction), nowMs)) reasons.push('locked-out');
    if (this.credentialsStale(nowMs)) reasons.push('credentials-stale');
    if (!credential) {
      reasons.push('unknown-badge');
      return { reasons: unique(reasons), softAntiPassback: false };
    }
    if (credential.status === 'revoked') reasons.push('badge-revoked');
    if (
      (credential.validUntil !== undefined && credential.validUntil <= nowMs) ||
      (credential.validFrom !== undefined && credential.validFrom > nowMs)
    ) {
      reasons.push('badge-expired');
    }
    if (this.badgeThrottle.isLocked(badgeKey(badge), nowMs)) reasons.push('locked-out');
    if (direction === 'in' && (this.siteLockdown || room.lockdown)) reasons.push('lockdown');
    if (needsCode && !this.clockSync.synchronised()) reasons.push('clock-unsynchronised');
    if (!isCompliant(credential, this.settings.compliance, nowMs)) reasons.push('compliance-lapsed');
    if (credential.schedule && !isWithinSchedule(credential.schedule, nowMs))
      reasons.push('outside-schedule');
    let softAntiPassback = false;
    if (room.violatesAntiPassback(credential.person, direction, nowMs)) {
      if (room.settings.antiPassback === 'hard') reasons.push('anti-passback');
      else softAntiPassback = true;
    }
    if (direction === 'in' && room.settings.firstPersonIn && room.isEmpty(nowMs) && !credential.mayOpenRoom) {
      reasons.push('first-person-rule');
    }
    return { reasons: unique(reasons), softAntiPassback };
  }

  credentialsStale(nowMs: number): boolean {
    return nowMs - this.credentials.syncedAt > this.settings.offlineHorizonMs;
  }

  /** Raises or clears the gateway-wide alarms for the credential cache and the clock. */
  checkHealth(nowMs: number): void {
    if (this.credentialsStale(nowMs)) {
      this.alarms.raise({
        alarm: 'credentials-stale',
        key: 'credentials-stale',
        severity: 'critical',
        detail:
          this.credentials.syncedAt > 0
            ? `no credential update since ${new Date(this.credentials.syncedAt).toISOString()}; the cache no longer grants`
            : 'no credential set received yet; the gateway grants nobody until the central side sends one',
      });
    } else {
      this.alarms.clear('credentials-stale');
    }
    if (!this.clockSync.synchronised()) {
      this.alarms.raise({
        alarm: 'clock-unsynchronised',
        key: 'clock-unsynchronised',
        severity: 'critical',
        detail: 'the gateway clock is not known to be synchronised; TOTP entry is refused',
      });
    } else {
      this.alarms.clear('clock-unsynchronised');
    }
  }
}

export const badgeKey = (badge: string) => `badge:${badge}`;
export const readerKey = (door: string, direction: 'in' | 'out') => `reader:${door}:${direction}`;

function unique(reasons: DenyReason[]): DenyReason[] {
  return [...new Set(reasons)];
}
