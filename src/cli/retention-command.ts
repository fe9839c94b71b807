import { isDataClass } from '../controllers/retention/data-classes.js';
import type { PolicyRef } from '../dashboard/retention/retention-schemas.js';
import { UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';
import { entryTable, formatHolds, formatPolicies, formatReport } from './retention-report.js';

/**
 * `identgate retention …`: run retention (or show what it would delete), set policies, place
 * and release legal holds, read the deletion log. Changes are audited as `cli:<os user>`.
 */
export const RETENTION_USAGE = `usage:
  identgate retention run [--dry-run] --config <dashboard.yaml>
  identgate retention policy list --config <dashboard.yaml>
  identgate retention policy set <class> <days> [--customer <id> | --site <id>] --config <dashboard.yaml>
  identgate retention policy remove <class> [--customer <id> | --site <id>] --config <dashboard.yaml>
  identgate retention hold list --config <dashboard.yaml>
  identgate retention hold add [--site <id>] --from <ISO time> --to <ISO time> --reason <case ref> --config <dashboard.yaml>
  identgate retention hold release <id> --config <dashboard.yaml>
  identgate retention log --config <dashboard.yaml>          the latest deletion log entries
classes: access-events, video, alarms, quarantine, audit-exports, presence`;

export interface RetentionFlags {
  config?: string;
  dryRun?: boolean;
  customer?: string;
  site?: string;
  from?: string;
  to?: string;
  reason?: string;
}

export async function runRetentionCommand(args: string[], flags: RetentionFlags): Promise<string[]> {
  const [verb, sub, ...rest] = args;
  const command = `retention ${verb ?? ''}`.trim();
  switch (verb) {
    case 'run':
      if (sub) throw new UsageError(RETENTION_USAGE);
      return withDashboardDatabase(flags.config, command, async ({ retention }) =>
        formatReport(await retention.runNow({ dryRun: flags.dryRun ?? false }, cliActor())),
      );
    case 'policy':
      return policy(sub, rest, flags);
    case 'hold':
      return hold(sub, rest, flags);
    case 'log':
      return withDashboardDatabase(flags.config, command, async ({ retention }) => {
        const rows = await retention.deletionLog({ limit: 50 });
        if (rows.length === 0) return ['the deletion log is empty'];
        return entryTable(rows);
      });
    default:
      throw new UsageError(RETENTION_USAGE);
  }
}

async function policy(sub: string | undefined, args: string[], flags: RetentionFlags): Promise<string[]> {
  const command = `retention policy ${sub ?? ''}`.trim();
  if (sub === 'list' && args.length === 0) {
    return withDashboardDatabase(flags.config, command, async ({ retention }) =>
      formatPolicies(await retention.policies()),
    );
  }
  const [dataClass, days] = args;
  if (!dataClass || !isDataClass(dataClass)) throw new UsageError(RETENTION_USAGE);
  const ref = policyRef(dataClass, flags);
  if (sub === 'set' && args.length === 2 && days !== undefined && /^\d+$/.test(days)) {
    return withDashboardDatabase(flags.config, command, async ({ retention }) => {
      const policy = await retention.setPolicy({ ...ref, days: Number(days) }, cliActor());
      return [`${policy.dataClass} is kept ${policy.days} days for ${describeScope(ref)}`];
    });
  }
  if (sub === 'remove' && args.length === 1) {
    return withDashboardDatabase(flags.config, command, async ({ retention }) =>
      (await retention.removePolicy(ref, cliActor()))
        ? [`the ${dataClass} policy for ${describeScope(ref)} is removed; the next wider scope applies`]
        : [`there was no ${dataClass} policy for ${describeScope(ref)}`],
    );
  }
  throw new UsageError(RETENTION_USAGE);
}

async function hold(sub: string | undefined, args: string[], flags: RetentionFlags): Promise<string[]> {
  const command = `retention hold ${sub ?? ''}`.trim();
  if (sub === 'list' && args.length === 0) {
    return withDashboardDatabase(flags.config, command, async ({ retention }) =>
      formatHolds(await retention.holds({ includeReleased: true })),
    );
  }
  if (sub === 'add' && args.length === 0) {
    if (!flags.from || !flags.to || !flags.reason)
      throw new UsageError(
        `identgate retention hold add needs --from, --to and --reason\n\n${RETENTION_USAGE}`,
      );
    const { from, to, reason } = flags;
    return withDashboardDatabase(flags.config, command, async ({ retention }) => {
      const created = await retention.addHold(
        { ...(flags.site ? { site: flags.site } : {}), from: isoTime(from), to: isoTime(to), reason },
        cliActor(),
      );
      return [
        `legal hold ${created.id} placed on ${created.site ?? 'every site'} from ${created.from} to ${created.to}`,
      ];
    });
  }
  const id = args[0];
  if (sub === 'release' && args.length === 1 && id !== undefined && /^\d+$/.test(id)) {
    return withDashboardDatabase(flags.config, command, async ({ retention }) => {
      const released = await retention.releaseHold(Number(id), cliActor());
      return [
        `legal hold ${released.id} released; its data goes at the next run once its retention has passed`,
      ];
    });
  }
  throw new UsageError(RETENTION_USAGE);
}

function policyRef(dataClass: PolicyRef['dataClass'], flags: RetentionFlags): PolicyRef {
  if (flags.customer && flags.site) throw new UsageError('give either --customer or --site, not both');
  if (flags.customer) return { dataClass, scope: 'customer', scopeId: flags.customer };
  if (flags.site) return { dataClass, scope: 'site', scopeId: flags.site };
  return { dataClass, scope: 'global' };
}

function describeScope(ref: PolicyRef): string {
  return ref.scope === 'global' ? 'every site' : `${ref.scope} ${ref.scopeId}`;
}

/** Accepts what Date parses (`2026-03-01`, `2026-03-01T08:00:00+01:00`) and passes it on as ISO 8601 UTC. */
function isoTime(text: string): string {
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new UsageError(`"${text}" is not a time; use ISO 8601, e.g. 2026-03-01T08:00:00Z`);
  return new Date(ms).toISOString();
}
