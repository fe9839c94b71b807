import type { AuditEntry } from '../audit/audit-log.js';
import type { CentralAlarm } from '../storage/alarm-store.js';
import type { Queryable } from '../storage/event-store.js';
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
  'staff.invitation-ended': () => 'its outstanding enrolment link ended',
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

/** Joins a privilege alarm `a` to the audit entry `l` its key names: the change it tells of. */
const ITS_ENTRY = `audit_log l ON l.id = substring(a.key FROM '^staff-privilege-granted:([0-9]{1,18})$')::bigint`;

/**
 * Why `login` may not acknowledge or resolve alarm `alarmId`, if that is a privilege alarm:
 * the alarm is about their own account, or one about their own account is still open (a taken
 * account must not vouch for another). Confirming is for security staff whose own accounts are
 * settled. Undefined: no objection.
 */
export async function privilegeAlarmObjection(
  db: Queryable,
  alarmId: number,
  login: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ own: boolean; open: boolean }>(
    `WITH target AS (SELECT alarm FROM alarms WHERE id = $1)
     SELECT coalesce(bool_or(a.id = $1), false) AS own, coalesce(bool_or(a.id <> $1), false) AS open
       FROM alarms a
       JOIN ${ITS_ENTRY}
      WHERE (SELECT alarm FROM target) = 'staff-privilege-granted'
        AND a.alarm = 'staff-privilege-granted' AND l.target = $2
        AND (a.id = $1 OR a.state <> 'resolved')`,
    [alarmId, `staff:${login}`],
  );
  const row = rows[0];
  if (row?.own) return 'this alarm is about your own account: another member of security staff confirms it';
  if (row?.open)
    return 'an alarm about your own account is still open: another member of security staff confirms it before you confirm others';
  return undefined;
}

/**
 * Why `actor` (a tool on the central host, `cli:<os user>`) may not acknowledge or resolve alarm
 * `alarmId`: it is a privilege alarm about a change `actor` made itself. Whoever reset an
 * account from the command line must not be the one to close the alarm that tells security staff.
 */
export async function ownChangeObjection(
  db: Queryable,
  alarmId: number,
  actor: string,
): Promise<string | undefined> {
  const { rows } = await db.query<{ own: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM alarms a
         JOIN ${ITS_ENTRY}
        WHERE a.id = $1 AND a.alarm = 'staff-privilege-granted' AND l.actor = $2) AS own`,
    [alarmId, actor],
  );
  return rows[0]?.own
    ? `this alarm is about a change ${actor} made: security staff, or someone else on the central host, confirm it`
    : undefined;
}
