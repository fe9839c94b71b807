import type { AuditEntry } from '../audit/audit-log.js';
import type { CentralAlarm } from '../storage/alarm-store.js';
import type { Role } from './staff-store.js';

/**
 * Administrators control the staff accounts, so one can take a `security` account for themselves
 * (create one, or reset one's password or authenticator, and keep its enrolment link) and open a
 * door with it. Separation of duties cannot prevent that; this alarm puts each such change in
 * front of security staff at once, on the live monitor, where only they may acknowledge and
 * resolve it. It detects; it does not stop the change.
 */

/** The roles whose accounts act: on doors and alarms, or on the accounts. Auditors change nothing. */
export const PRIVILEGED_ROLES: ReadonlySet<Role> = new Set<Role>(['security', 'admin']);

/** The audit actions that could put an account in other hands, each in words for the alarm. */
const HANDS_OVER: Readonly<Record<string, (entry: AuditEntry) => string>> = {
  'staff.created': () => 'created',
  'staff.role-changed': (entry) => `role changed from ${entry.details?.from} to ${entry.details?.to}`,
  'staff.enabled': () => 'enabled',
  'staff.password-reset': () => 'password reset',
  'staff.totp-reset': () => 'authenticator reset',
  'staff.invitation-issued': () => 'enrolment link issued',
};

export interface WrittenEntry {
  entry: AuditEntry;
  /** The entry's id in audit_log. */
  id: number;
}

/**
 * The alarm for one change to one account, from the change's audit entries and the account as it
 * stands after it: none for an auditor's account, nor for a change that hands nothing over
 * (disabling, sessions ended). One per change, keyed by its first entry's id, so that each is seen
 * and resolved on its own. Names the actor, the account and what happened; never a secret.
 */
export function privilegeAlarm(
  account: { login: string; role: Role },
  written: readonly WrittenEntry[],
): CentralAlarm | undefined {
  if (!PRIVILEGED_ROLES.has(account.role)) return undefined;
  const handing = written.filter(({ entry }) => HANDS_OVER[entry.action] !== undefined);
  const first = handing[0];
  if (!first) return undefined;
  const what = handing.map(({ entry }) => HANDS_OVER[entry.action]?.(entry)).join(', ');
  return {
    alarm: 'staff-privilege-granted',
    key: `staff-privilege-granted:${first.id}`,
    severity: 'critical',
    detail:
      `${account.role} account staff:${account.login}: ${what} by ${first.entry.actor} (audit entry ${first.id})`.slice(
        0,
        500,
      ),
  };
}
