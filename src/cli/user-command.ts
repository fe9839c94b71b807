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
  identgate user add <login> --name <display name> --role admin|security|auditor [--url <address>] --config <dashboard.yaml>
    a new account with a one-time enrolment link (${INVITATION_HOURS} h), printed here for its owner
  identgate user reset <login> [--enable] [--url <address>] --config <dashboard.yaml>
    a new enrolment link for an account whose owner lost the password or the authenticator (or
    both): the old password stops working, the authenticator is reset, the sessions end;
    --enable: a disabled account is enabled in the same change, with none of its old credentials
  identgate user disable|enable <login> --config <dashboard.yaml>
    the last enabled administrator cannot be disabled; enabling keeps the account's credentials
  --url: the address staff open the dashboard at (https://dashboard.example), to print the link
    whole; without it the link is printed with a placeholder for that address`;

export interface UserFlags {
  config?: string;
  name?: string;
  role?: string;
  url?: string;
  enable?: boolean;
}

const ROLES: readonly Role[] = ['admin', 'security', 'auditor'];
const LOGIN = /^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$/;
const LINE = new RegExp(LINE_PATTERN);
const NAME_MAX = 120;
/** Which verb takes which of the flags; any other is refused rather than ignored. */
const TAKES: Readonly<Record<string, ReadonlyArray<keyof UserFlags>>> = {
  list: [],
  add: ['name', 'role', 'url'],
  reset: ['url', 'enable'],
  disable: [],
  enable: [],
};
const VERB_FLAGS = ['name', 'role', 'url', 'enable'] as const;
/** The command line's options `identgate user` reads; main.ts refuses any other. */
export const USER_OPTIONS: readonly string[] = ['config', ...VERB_FLAGS];

export async function runUserCommand(args: string[], flags: UserFlags): Promise<string[]> {
  const [verb, login, ...rest] = args;
  // Own keys only: `toString` or `constructor` is no verb.
  const takes = verb !== undefined && Object.hasOwn(TAKES, verb) ? TAKES[verb] : undefined;
  if (!takes || rest.length > 0 || (verb === 'list') !== (login === undefined))
    throw new UsageError(USER_USAGE);
  for (const flag of VERB_FLAGS)
    if (flags[flag] !== undefined && !takes.includes(flag))
      throw new UsageError(`identgate user ${verb} takes no --${flag}`);
  if (verb === 'list' || login === undefined) return inDatabase(flags, 'user list', listAccounts);
  if (!LOGIN.test(login))
    throw new UsageError(`"${login}" is not a login (2–64 letters, digits, dot, dash or underscore)`);
  const origin = flags.url === undefined ? undefined : dashboardOrigin(flags.url);
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
        printableLine(`created ${account.role} account ${account.login} (${account.displayName})`),
        ...link(invitation, origin),
      ];
    });
  }
  if (verb === 'reset') {
    return inDatabase(flags, 'user reset', async (staff) => {
      const target = await staff.staff.byLogin(login);
      if (target?.disabledAt && !flags.enable)
        throw new UsageError(
          `${target.login} is disabled: add --enable to enable it with the new link in the same change (enabling it first would let its old password and authenticator sign in meanwhile)`,
        );
      const invitation = await staff.invitations.reissue(staff.actor, login, {
        resetTotp: true,
        enable: flags.enable === true,
      });
      return [
        `reset ${login.toLowerCase()}${target?.disabledAt ? ' and enabled it' : ''}: the old password no longer works, the authenticator is reset and the sessions ended`,
        ...link(invitation, origin),
      ];
    });
  }
  const disable = verb === 'disable';
  return inDatabase(flags, `user ${verb}`, async (staff) => {
    // Asked for what is so already: nothing to change (administer would still end its sessions).
    const current = await staff.staff.byLogin(login);
    if (current && (current.disabledAt !== null) === disable)
      return [`${current.login} is ${disable ? 'disabled' : 'enabled'} already; nothing changed`];
    const account = await staff.auth.administer(staff.actor, login, { disabled: disable });
    return [
      account.disabledAt
        ? `disabled ${account.login}: its sessions ended, it cannot sign in`
        : `enabled ${account.login} with the password and authenticator it had (identgate user reset for new ones)`,
    ];
  });
}

/** The origin of `--url`: http(s), no path, query or fragment (the link's own go after it). */
function dashboardOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(text)} is not an address such as https://dashboard.example`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password)
    throw new UsageError('--url must be an http(s) address without a user or password');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw new UsageError(
      "--url is the dashboard's address alone (https://dashboard.example:8443), with no path",
    );
  return url.origin;
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
    const { pool, config } = db;
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
      await announceAlarms(db, raised);
      lines.push(
        `raised ${raised.length === 1 ? 'a staff-privilege-granted alarm' : `${raised.length} staff-privilege-granted alarms`} for security staff to confirm`,
      );
    }
    return lines;
  });
}

/** The enrolment link, on the dashboard's address when --url gives it. */
function link(invitation: Invitation, origin: string | undefined): string[] {
  return [
    `enrolment link (works once, until ${invitation.expiresAt}); give it to the account's owner only:`,
    `  ${origin ?? '<the address staff open the dashboard at>'}/#invite=${invitation.token}`,
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
        // Quoted: a name may hold two spaces, which would make it pass for more columns.
        JSON.stringify(account.displayName),
      ].join('  '),
    ),
  );
}
