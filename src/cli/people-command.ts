import { UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate people erase <person-id>`: erases a person on request — master data always, their
 * events and alarms too unless --keep-events. Audited as `cli:<os user>` with the reference,
 * never with the person's id. Needs the dashboard's keys.master (the tombstones' key is sealed
 * under it) and signs the list of erased chain rows with keys.signing, as the dashboard does.
 */
export const PEOPLE_USAGE = `usage:
  identgate people erase <person-id> [--keep-events] [--reference <ticket>] --config <dashboard.yaml>
    removes the person, badges, site grants and TOTP secret; also their events, footage links,
    alarms and quarantined payloads unless --keep-events (data under a legal hold stays);
    needs keys.master, and signs with keys.signing where the configuration has it`;

export interface PeopleFlags {
  config?: string;
  keepEvents?: boolean;
  reference?: string;
}

export async function runPeopleCommand(args: string[], flags: PeopleFlags): Promise<string[]> {
  const [verb, personId, ...rest] = args;
  if (verb !== 'erase' || !personId || rest.length > 0) throw new UsageError(PEOPLE_USAGE);
  return withDashboardDatabase(
    flags.config,
    'people erase',
    async ({ retention }) => {
      const report = await retention.erasePerson(
        personId,
        { keepEvents: flags.keepEvents ?? false, ...(flags.reference ? { reference: flags.reference } : {}) },
        cliActor(),
      );
      const lines = [
        `erased ${personId}: ${report.person ? 'person record' : 'no person record'}, ${report.badges} badges, ${report.grants} site grants`,
        report.keptEvents
          ? 'events and alarms kept (--keep-events): they go with their retention'
          : `${report.events} events, ${report.footageLinks} footage links, ${report.alarms} alarms, ${report.quarantine} quarantined payloads deleted`,
      ];
      if (report.companions > 0)
        lines.push(
          `${report.companions} events of others named the person as companion; it now reads "erased"`,
        );
      if (report.auditEntries > 0)
        lines.push(
          `${report.auditEntries} audit log entries named the person or a badge of theirs; it now reads "erased"`,
        );
      if (report.heldEvents > 0)
        lines.push(
          `${report.heldEvents} events kept under legal hold; they go once the hold is released and their retention has passed`,
        );
      lines.push(
        'gateways drop the person with the credential sets the running dashboards publish now (or at their next start);',
        'footage stays on the gateways until their video retention removes it (docs/data-protection.md)',
      );
      return lines;
    },
    { erasureKeys: true },
  );
}
