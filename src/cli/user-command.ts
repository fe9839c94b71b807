import { staffSettings } from '../config/dashboard-config.js';
import { AuditLog } from '../dashboard/audit/audit-log.js';
import { AuthService } from '../dashboard/auth/auth-service.js';
import { SessionStore } from '../dashboard/auth/session-store.js';
import { INVITATION_HOURS, type Invitation, StaffInvitations } from '../dashboard/auth/staff-invitations.js';
import { type Role, StaffStore } from '../dashboard/auth/staff-store.js';
import { AlarmStore } from '../dashboard/storage/alarm-store.js';
import { systemClock } from '../lib/clock.js';
import { LINE_PATTERN, printableLine } from '../lib/line-of-text.js';
import { UsageError } from './cli-error.js';
import { type AdminDatabase, announceAlarms, cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate user list|add|reset|disable|enable`: staff accounts from the central host, for when
 * no administrator can sign in (the only one lost their authenticator, or left) and for set-up by
 * script. The same changes as the Staff page, with the same rules (the last enabled administrator
 * stays; new accounts and resets get a one-time enrolment link, never a password), each audited
 * as `cli:<os user>` in its own transaction and, where it could hand a `security` or `admin`
 * account to someone, announced by the same `staff-privilege-granted` alarm.
 */
export const USER_USAGE = `usage:
  identgate user list --config <dashboard.yaml>
    every staff account: login, role, enabled or disabled, authenticator enrolled or not
  identgate user add <login> --name <display name> --role admin|security|auditor --config <dashboard.yaml>
    a new account with a one-time enrolment link (${INVITATION_HOURS} h), printed here for its owner
  identgate user reset <login> --config <dashboard.yaml>
    a new enrolment link for an account whose owner lost the password or the authenticator (or
    both): the old password stops working, the authenticator is reset, the sessions end
  identgate user disable|enable <login> --config <dashboard.yaml>
    the last enabled administrator cannot be disabled`;

export interface UserFlags {
  config?: string;
  name?: string;
  role?: string;
}

const ROLES: readonly Role[] = ['admin', 'security', 'auditor'];
const LOGIN = /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/;
const LINE = new RegExp(LINE_PATTERN);
const NAME_MAX = 120;

export async function runUserCommand(args: string[], flags: UserFlags): Promise<string[]> {
  const [verb, login, ...rest] = args;
  if (verb === 'list' && login === undefined) return inDatabase(flags, 'user list', listAccounts);
  if (!verb || !['add', 'reset', 'disable', 'enable'].includes(verb) || !login || rest.length > 0)
    throw new UsageError(USER_USAGE);
  if (!LOGIN.test(login))
    throw new UsageError(`"${login}" is not a login (2–64 letters, digits, dot, dash or underscore)`);
  if (verb === 'add') {
    const role = flags.role as Role | undefined;
    if (!role || !ROLES.includes(role))
      throw new UsageError(`identgate user add needs --role ${ROLES.join('|')}`);
    const name = flags.name?.trim() ?? '';
    if (!LINE.test(name) || [...name].length > NAME_MAX)
      throw new UsageError(
        `identgate user add needs --name <display name>: one line, at most ${NAME_MAX} characters`,
      );
    return inDatabase(flags, 'user add', async (staff) => {
      const { account, invitation } = await staff.invitations.create(staff.actor, {
        login,
        displayName: name,
        role,
      });
      return [
        `created ${account.role} account ${account.login} (${account.displayName})`,
        ...link(staff, invitation),
      ];
    });
  }
  if (verb === 'reset') {
    return inDatabase(flags, 'user reset', async (staff) => {
      const invitation = await staff.invitations.reissue(staff.actor, login, { resetTotp: true });
      return [
        `reset ${login.toLowerCase()}: the old password no longer works, the authenticator is reset and the sessions ended`,
        ...link(staff, invitation),
      ];
    });
  }
  return inDatabase(flags, `user ${verb}`, async (staff) => {
    const account = await staff.auth.administer(staff.actor, login, { disabled: verb === 'disable' });
    return [
      account.disabledAt
        ? `disabled ${account.login}: its sessions ended, it cannot sign in`
        : `enabled ${account.login}`,
    ];
  });
}

interface StaffTools {
  db: AdminDatabase;
  auth: AuthService;
  invitations: StaffInvitations;
  staff: StaffStore;
  actor: { tool: string };
}

/**
 * The staff services over the central database, as a dashboard runs them; the alarms they raise
 * are announced to the running dashboards, which show them to their live clients.
 */
function inDatabase(
  flags: UserFlags,
  command: string,
  work: (staff: StaffTools) => Promise<string[]>,
): Promise<string[]> {
  return withDashboardDatabase(flags.config, command, async (db) => {
    const { pool, config, log } = db;
    const staff = new StaffStore(pool);
    const audit = new AuditLog(pool);
    const raised: number[] = [];
    const auth = AuthService.overDatabase({
      pool,
      staff,
      audit,
      alarms: new AlarmStore(pool),
      alarmsChanged: (alarms) => raised.push(...alarms.map((a) => a.id)),
      // Nothing here opens a TOTP secret: a reset removes it, a new account has none yet.
      keys: undefined,
      clock: systemClock,
      config: staffSettings(config),
    });
    const invitations = new StaffInvitations({ pool, auth, staff, audit, sessions: new SessionStore(pool) });
    const lines = await work({ db, auth, invitations, staff, actor: { tool: cliActor() } });
    if (raised.length > 0) {
      await announceAlarms(pool, raised, log);
      lines.push(
        `raised ${raised.length === 1 ? 'a staff-privilege-granted alarm' : `${raised.length} staff-privilege-granted alarms`} for security staff to confirm`,
      );
    }
    return lines;
  });
}

/** The enrolment link, on the dashboard's address as its configuration names it. */
function link({ db }: StaffTools, invitation: Invitation): string[] {
  const { host, port, tls } = db.config.http;
  const origin = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return [
    `enrolment link (works once, until ${invitation.expiresAt}); give it to the account's owner only:`,
    `  ${origin}/#invite=${invitation.token}`,
    '  (on the address staff reach the dashboard by, if that is another: a proxy, a name)',
  ];
}

async function listAccounts({ staff, invitations }: StaffTools): Promise<string[]> {
  const accounts = await staff.list();
  if (accounts.length === 0) return ['no staff accounts yet: the dashboard prints a setup link at its start'];
  const pending = await invitations.pending();
  return accounts.map((account) =>
    printableLine(
      [
        account.login,
        account.role,
        account.disabledAt ? `disabled ${account.disabledAt.toISOString()}` : 'enabled',
        pending.has(account.id)
          ? 'enrolment link outstanding'
          : account.totpEnrolledAt
            ? 'authenticator enrolled'
            : 'no authenticator yet',
        account.displayName,
      ].join('  '),
    ),
  );
}
