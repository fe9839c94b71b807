import QRCode from 'qrcode';
import { staffSettings } from '../config/dashboard-config.js';
import { CREDENTIALS_CHANNEL } from '../dashboard/cluster-channels.js';
import { DAY_PATTERN } from '../dashboard/http/admin-people-support.js';
import { agentOtpauthUri, PeopleEnrolment, type PersonFields } from '../dashboard/people/people-enrolment.js';
import { PeopleDirectory } from '../dashboard/storage/people-directory.js';
import { PeopleStore } from '../dashboard/storage/people-store.js';
import { CodedError } from '../lib/coded-error.js';
import { LINE_PATTERN, printableLine } from '../lib/line-of-text.js';
import { ID_PATTERN } from '../protocol/ids.js';
import { UsageError } from './cli-error.js';
import { type AdminDatabase, cliActor, tellDashboards, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate agent …`: enrolling agents from the central host — by script, or while no
 * administrator can use the dashboard — with the rules, checks and audit entries of the People
 * page (PeopleEnrolment), audited as `cli:<os user>`. After a change the running dashboards are
 * told (a notice per site) and publish the sites' credential sets at once, so the gateways decide
 * with it; erasure is `identgate people erase`.
 */
export const AGENT_USAGE = `usage:
  identgate agent list --config <dashboard.yaml>
    every agent: id, name, active badges, sites, authenticator, compliance dates
  identgate agent add <id> --name <name> [--background-check <date>] [--training <date>] [--may-open-room yes|no] --config <dashboard.yaml>
  identgate agent update <id> [--name <name>] [--background-check <date>|none] [--training <date>|none] [--may-open-room yes|no] --config <dashboard.yaml>
    dates as YYYY-MM-DD; none clears one
  identgate agent badge <id> <badge> [--valid-from <time>] [--valid-until <time>] --config <dashboard.yaml>
    times as 2026-12-01T08:00:00+01:00 (with Z or an offset); without them the badge is valid
    from now on until revoked
  identgate agent revoke-badge <id> <badge> --config <dashboard.yaml>
  identgate agent grant|withdraw <id> <site> --config <dashboard.yaml>
  identgate agent totp <id> --config <dashboard.yaml>
    a new TOTP secret (replacing the old one), printed once as a QR code and an otpauth URI for the
    agent's authenticator app; needs keys.master`;

export interface AgentFlags {
  config?: string;
  name?: string;
  backgroundCheck?: string;
  training?: string;
  mayOpenRoom?: string;
  validFrom?: string;
  validUntil?: string;
}

const ID = new RegExp(ID_PATTERN);
const BADGE = /^[A-Za-z0-9:_-]{1,64}$/;
const LINE = new RegExp(LINE_PATTERN);
const NAME_MAX = 200;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const DAY_RANGE = new RegExp(DAY_PATTERN);

const PERSON_FLAGS = ['name', 'backgroundCheck', 'training', 'mayOpenRoom'] as const;
const BADGE_FLAGS = ['validFrom', 'validUntil'] as const;
const VERB_FLAGS = [...PERSON_FLAGS, ...BADGE_FLAGS];
/** Each verb: how many words after it (the id, then a badge or site), and the flags it takes. */
const VERBS: Readonly<Record<string, { words: number; flags: ReadonlyArray<keyof AgentFlags> }>> = {
  list: { words: 0, flags: [] },
  add: { words: 1, flags: PERSON_FLAGS },
  update: { words: 1, flags: PERSON_FLAGS },
  badge: { words: 2, flags: BADGE_FLAGS },
  'revoke-badge': { words: 2, flags: [] },
  grant: { words: 2, flags: [] },
  withdraw: { words: 2, flags: [] },
  totp: { words: 1, flags: [] },
};
const FLAG_NAMES: Record<keyof AgentFlags, string> = {
  config: 'config',
  name: 'name',
  backgroundCheck: 'background-check',
  training: 'training',
  mayOpenRoom: 'may-open-room',
  validFrom: 'valid-from',
  validUntil: 'valid-until',
};
/** The command line's options `identgate agent` reads; main.ts refuses any other. */
export const AGENT_OPTIONS: readonly string[] = Object.values(FLAG_NAMES);

export async function runAgentCommand(args: string[], flags: AgentFlags): Promise<string[]> {
  const [verb, ...words] = args;
  const spec = verb !== undefined && Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!verb || !spec || words.length !== spec.words) throw new UsageError(AGENT_USAGE);
  for (const flag of VERB_FLAGS)
    if (flags[flag] !== undefined && !spec.flags.includes(flag))
      throw new UsageError(`identgate agent ${verb} takes no --${FLAG_NAMES[flag]}`);
  if (verb === 'list') return inDatabase(flags, 'agent list', listAgents);
  const [id = '', second = ''] = words;
  if (!ID.test(id))
    throw new UsageError(`"${id}" is not a person id (up to 64 letters, digits, dashes and underscores)`);
  const actor = cliActor();
  switch (verb) {
    case 'add': {
      const fields = personFields(flags, verb);
      if (fields.displayName === undefined) throw new UsageError('identgate agent add needs --name <name>');
      const { backgroundCheckOn, trainingOn, mayOpenRoom } = fields;
      return inDatabase(flags, 'agent add', async ({ enrolment }) => {
        await enrolment.create(actor, {
          id,
          displayName: fields.displayName as string,
          ...(backgroundCheckOn ? { backgroundCheckOn } : {}),
          ...(trainingOn ? { trainingOn } : {}),
          ...(mayOpenRoom !== undefined ? { mayOpenRoom } : {}),
        });
        return [`added ${id}: badges, sites and the authenticator follow (agent badge, grant, totp)`];
      });
    }
    case 'update': {
      const fields = personFields(flags, verb);
      if (Object.keys(fields).length === 0)
        throw new UsageError(
          'identgate agent update needs at least one of --name, --background-check, --training, --may-open-room',
        );
      return changed(flags, verb, (enrolment) => enrolment.update(actor, id, fields), `updated ${id}`);
    }
    case 'badge':
    case 'revoke-badge': {
      if (!BADGE.test(second))
        throw new UsageError(`"${second}" is not a badge number (letters, digits, colon, dash, underscore)`);
      const validity = verb === 'badge' ? badgeValidity(flags) : {};
      return verb === 'badge'
        ? changed(
            flags,
            verb,
            async (enrolment) => {
              // Given again, a badge would lose the validity span the People page may have set.
              const person = await enrolment.existing(id);
              if (person.badges.some((b) => b.badge === second && b.status === 'active'))
                throw new CodedError(
                  'IDG_ADMIN_CONFLICT',
                  `badge ${second} of ${id} is active already; nothing changed`,
                );
              return enrolment.addBadge(actor, id, second, validity);
            },
            `badge ${second} given to ${id}${spanText(validity)}`,
          )
        : changed(
            flags,
            verb,
            (enrolment) => enrolment.revokeBadge(actor, id, second),
            `badge ${second} of ${id} revoked`,
          );
    }
    case 'grant':
    case 'withdraw': {
      if (!ID.test(second)) throw new UsageError(`"${second}" is not a site id`);
      return verb === 'grant'
        ? changed(
            flags,
            verb,
            (enrolment) => enrolment.grantSite(actor, id, second),
            `${id} may enter site ${second}`,
          )
        : changed(
            flags,
            verb,
            (enrolment) => enrolment.withdrawSite(actor, id, second),
            `${id} may no longer enter site ${second}`,
          );
    }
    default:
      return inDatabase(
        flags,
        'agent totp',
        async (tools) => {
          const { secret, sites } = await tools.enrolment.enrolTotp(actor, id);
          await announce(tools.db, sites);
          const uri = agentOtpauthUri(staffSettings(tools.db.config).issuer, id, secret);
          const qr = await QRCode.toString(uri, { type: 'terminal', small: true, errorCorrectionLevel: 'M' });
          return [
            `new authenticator secret for ${id} (the old one no longer works); shown once, for the agent's authenticator app only:`,
            qr.trimEnd(),
            uri,
            ...published(sites),
          ];
        },
        { masterKeys: true },
      );
  }
}

/** The person's fields from the flags, checked as the People page checks them. */
function personFields(flags: AgentFlags, verb: string): PersonFields {
  const fields: PersonFields = {};
  if (flags.name !== undefined) {
    const name = flags.name.trim();
    if (!LINE.test(name) || [...name].length > NAME_MAX)
      throw new UsageError(`--name must be one line of at most ${NAME_MAX} characters`);
    fields.displayName = name;
  }
  const day = (value: string | undefined, flag: string): string | null | undefined => {
    if (value === undefined) return undefined;
    if (value === 'none' && verb === 'update') return null;
    const parsed = new Date(`${value}T00:00:00Z`);
    if (
      !DAY.test(value) ||
      !DAY_RANGE.test(value) ||
      Number.isNaN(parsed.getTime()) ||
      parsed.toISOString().slice(0, 10) !== value
    )
      throw new UsageError(
        `--${flag} must be a date from 1900 to 2999 as YYYY-MM-DD${verb === 'update' ? ', or none' : ''}`,
      );
    return value;
  };
  const backgroundCheckOn = day(flags.backgroundCheck, 'background-check');
  if (backgroundCheckOn !== undefined) fields.backgroundCheckOn = backgroundCheckOn;
  const trainingOn = day(flags.training, 'training');
  if (trainingOn !== undefined) fields.trainingOn = trainingOn;
  if (flags.mayOpenRoom !== undefined) {
    if (flags.mayOpenRoom !== 'yes' && flags.mayOpenRoom !== 'no')
      throw new UsageError('--may-open-room must be yes or no');
    fields.mayOpenRoom = flags.mayOpenRoom === 'yes';
  }
  return fields;
}

/** A moment as the HTTP API takes it: RFC 3339 with Z or an offset, a real day, 1900 to 2999. */
const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.\d{1,3})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

function instant(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const parts = INSTANT.exec(value);
  const [year, month, dayOfMonth] = (parts ?? []).slice(1, 4).map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, dayOfMonth));
  if (
    !parts ||
    year < 1900 ||
    year > 2999 ||
    calendar.getUTCMonth() !== month - 1 ||
    calendar.getUTCDate() !== dayOfMonth
  )
    throw new UsageError(
      `--${flag} must be a time from 1900 to 2999 with Z or an offset, as 2026-12-01T08:00:00+01:00`,
    );
  return new Date(value);
}

function badgeValidity(flags: AgentFlags): { from?: Date; until?: Date } {
  const from = instant(flags.validFrom, 'valid-from');
  const until = instant(flags.validUntil, 'valid-until');
  if (from && until && until <= from) throw new UsageError('--valid-until must be after --valid-from');
  return { ...(from ? { from } : {}), ...(until ? { until } : {}) };
}

function spanText(validity: { from?: Date; until?: Date }): string {
  const parts = [
    validity.from && `from ${validity.from.toISOString()}`,
    validity.until && `until ${validity.until.toISOString()}`,
  ].filter(Boolean);
  return parts.length > 0 ? `, valid ${parts.join(' ')}` : '';
}

interface AgentTools {
  db: AdminDatabase;
  enrolment: PeopleEnrolment;
  directory: PeopleDirectory;
}

function inDatabase(
  flags: AgentFlags,
  command: string,
  work: (tools: AgentTools) => Promise<string[]>,
  options: { masterKeys?: boolean } = {},
): Promise<string[]> {
  return withDashboardDatabase(
    flags.config,
    command,
    async (db) => {
      const directory = new PeopleDirectory(db.pool);
      const people = new PeopleStore(db.pool, db.masterKeys);
      return work({ db, directory, enrolment: new PeopleEnrolment({ pool: db.pool, people, directory }) });
    },
    options,
  );
}

/** A change, then the notice that makes the running dashboards publish its sites' sets. */
function changed(
  flags: AgentFlags,
  verb: string,
  change: (enrolment: PeopleEnrolment) => Promise<{ sites: string[] }>,
  done: string,
): Promise<string[]> {
  return inDatabase(flags, `agent ${verb}`, async (tools) => {
    const { sites } = await change(tools.enrolment);
    await announce(tools.db, sites);
    return [done, ...published(sites)];
  });
}

/** Tells the running dashboards, which publish these sites' credential sets (and refresh presence). */
function announce(db: AdminDatabase, sites: readonly string[]): Promise<void> {
  return tellDashboards(
    db,
    CREDENTIALS_CHANNEL,
    new Set(sites),
    "the sites' gateways get the change with the hourly refresh",
  );
}

function published(sites: readonly string[]): string[] {
  return sites.length === 0
    ? []
    : [
        `told the running dashboards to publish the credential sets of ${[...new Set(sites)].join(', ')} (a dashboard without the central signing key cannot; the gateways' hourly refresh catches up)`,
      ];
}

async function listAgents({ directory }: AgentTools): Promise<string[]> {
  const lines: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await directory.search({ limit: 500, offset });
    for (const person of page)
      lines.push(
        printableLine(
          [
            person.id,
            // Quoted: a name may hold two spaces, which would make it pass for more columns.
            JSON.stringify(person.displayName),
            `${person.activeBadges} active badge${person.activeBadges === 1 ? '' : 's'}`,
            `sites: ${person.sites.join(',') || 'none'}`,
            person.totpEnrolled ? 'authenticator enrolled' : 'no authenticator',
            `background check ${person.backgroundCheckOn ?? 'none'}`,
            `training ${person.trainingOn ?? 'none'}`,
            person.mayOpenRoom ? 'may open the room' : '',
          ]
            .filter(Boolean)
            .join('  '),
        ),
      );
    if (page.length < 500) break;
  }
  return lines.length > 0 ? lines : ['no agents yet'];
}
