import { AuditLog } from '../dashboard/audit/audit-log.js';
import { ownChangeObjection } from '../dashboard/auth/privilege-alarm.js';
import type { AlarmView } from '../dashboard/http/schemas.js';
import { type AlarmStep, settleAlarm } from '../dashboard/monitoring/alarm-settling.js';
import { AlarmStore } from '../dashboard/storage/alarm-store.js';
import { CodedError } from '../lib/coded-error.js';
import { LINE_PATTERN, printableLine } from '../lib/line-of-text.js';
import { UsageError } from './cli-error.js';
import { announceAlarms, cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate alarms list|acknowledge|resolve`: the alarm list and workflow from the central host,
 * audited as `cli:<os user>`. It exists for what the live monitor cannot do: when every security
 * account has an open privilege alarm of its own, none may confirm another's (privilege-alarm.ts),
 * and whoever runs the central host — who holds the database already — settles them after
 * checking with the people concerned. It also serves while no dashboard answers. The running
 * dashboards show the change at once.
 */
export const ALARMS_USAGE = `usage:
  identgate alarms list [--all] --config <dashboard.yaml>
    the open alarms (active or acknowledged), newest first; --all: resolved ones too (the last 200)
  identgate alarms acknowledge|resolve <id> --comment <text> --config <dashboard.yaml>
    the alarm workflow from the central host, audited as cli:<os user>, for when no member of
    security staff may confirm it (every security account has an open privilege alarm of its
    own) or no dashboard answers`;

export interface AlarmsFlags {
  config?: string;
  comment?: string;
  all?: boolean;
}

const LISTED = 200;
/** As the API takes a row id: at most 2^53 − 1, which a number holds exactly. */
const ID = /^[1-9][0-9]{0,15}$/;
/** As the live monitor takes a comment: one line, at most 500 characters. */
const COMMENT_MAX = 500;
const LINE = new RegExp(LINE_PATTERN);

export async function runAlarmsCommand(args: string[], flags: AlarmsFlags): Promise<string[]> {
  const [verb, id, ...rest] = args;
  if (verb === 'list' && id === undefined) {
    if (flags.comment !== undefined) throw new UsageError('identgate alarms list takes no --comment');
    return listAlarms(flags);
  }
  if (flags.all !== undefined) throw new UsageError('--all goes with identgate alarms list only');
  if ((verb !== 'acknowledge' && verb !== 'resolve') || !id || rest.length > 0)
    throw new UsageError(ALARMS_USAGE);
  if (!ID.test(id) || !Number.isSafeInteger(Number(id)))
    throw new UsageError(`"${id}" is not an alarm id (a number from alarms list)`);
  const comment = flags.comment?.trim() ?? '';
  if (comment === '')
    throw new UsageError(`identgate alarms ${verb} needs --comment <text> (it goes into the audit log)`);
  if ([...comment].length > COMMENT_MAX || !LINE.test(comment))
    throw new UsageError(`--comment must be one line of at most ${COMMENT_MAX} characters`);
  return settle(verb, Number(id), comment, flags);
}

async function settle(step: AlarmStep, id: number, comment: string, flags: AlarmsFlags): Promise<string[]> {
  return withDashboardDatabase(flags.config, `alarms ${step}`, async ({ pool, log }) => {
    const actor = cliActor();
    const change = await settleAlarm(
      { pool, alarms: new AlarmStore(pool), audit: new AuditLog(pool), log },
      step,
      id,
      comment,
      { actor, by: actor, objection: (db, alarmId) => ownChangeObjection(db, alarmId, actor) },
    );
    if (!change.ok) {
      const code = {
        'not-found': 'IDG_ALARM_NOT_FOUND',
        conflict: 'IDG_ALARM_STATE',
        objection: 'IDG_ALARM_OWN_CHANGE',
      };
      throw new CodedError(code[change.reason], change.message);
    }
    await announceAlarms({ pool, log }, [id]);
    return [`${step === 'acknowledge' ? 'acknowledged' : 'resolved'} ${describe(change.alarm)}`];
  });
}

async function listAlarms(flags: AlarmsFlags): Promise<string[]> {
  return withDashboardDatabase(flags.config, 'alarms list', async ({ pool }) => {
    const listed = await new AlarmStore(pool).list({ state: flags.all ? 'all' : 'open', limit: LISTED });
    if (listed.length === 0) return [flags.all ? 'no alarms' : 'no open alarms'];
    return listed.map(describe);
  });
}

/** One alarm on one line: what the list shows, with the detail last (it is the longest). */
function describe(alarm: AlarmView): string {
  const where = [alarm.site, alarm.gateway, alarm.door].filter((part) => part !== null).join('/');
  const by =
    alarm.state === 'acknowledged'
      ? ` by ${alarm.acknowledgedBy}`
      : alarm.state === 'resolved'
        ? ` by ${alarm.resolvedBy}`
        : '';
  // Detail, door and names come from gateways and staff: never a line or an escape of their own.
  return printableLine(
    [
      `#${alarm.id}`,
      alarm.severity,
      `${alarm.state}${by}`,
      alarm.alarm,
      where || 'central',
      `raised ${alarm.raisedAt}`,
      alarm.detail ?? '',
    ]
      .join('  ')
      .trimEnd(),
  );
}
