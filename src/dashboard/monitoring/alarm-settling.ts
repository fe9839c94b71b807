import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AlarmChange, AlarmStore } from '../storage/alarm-store.js';
import { inTransaction } from '../storage/database.js';
import type { Queryable } from '../storage/event-store.js';

/**
 * The alarm workflow's two steps (active → acknowledged → resolved), each with a comment and its
 * audit entry in one transaction: an alarm changes only together with the entry saying who
 * changed it, or not at all (AuditUnavailableError, 503). Taken by security staff on the live
 * monitor and, on the central host, by `identgate alarms` (the one way left when every security
 * account has an open privilege alarm of its own; see privilege-alarm.ts).
 */
export type AlarmStep = 'acknowledge' | 'resolve';

export interface AlarmSettler {
  /** The audit log's actor: `staff:<login>` or `cli:<os user>`. */
  actor: string;
  /** What the alarm records as acknowledged or resolved by: the login, or the actor. */
  by: string;
  /** Why this settler may not take this alarm, read in the transaction; undefined: no objection. */
  objection?: (db: Queryable, alarmId: number) => Promise<string | undefined>;
}

export type AlarmSettled = AlarmChange | { ok: false; reason: 'objection'; message: string };

export function settleAlarm(
  deps: { pool: Pool; alarms: AlarmStore; audit: AuditLog; log: Logger },
  step: AlarmStep,
  id: number,
  comment: string,
  settler: AlarmSettler,
): Promise<AlarmSettled> {
  return inTransaction(deps.pool, deps.log, async (db): Promise<AlarmSettled> => {
    const objection = await settler.objection?.(db, id);
    if (objection) return { ok: false, reason: 'objection', message: objection };
    const outcome =
      step === 'acknowledge'
        ? await deps.alarms.acknowledge(id, settler.by, comment, db)
        : await deps.alarms.resolve(id, settler.by, comment, db);
    if (outcome.ok) {
      await deps.audit.recordOrRefuse(
        {
          actor: settler.actor,
          action: `alarm.${step}`,
          target: `alarm:${id}`,
          details: { alarm: outcome.alarm.alarm, site: outcome.alarm.site, comment },
        },
        undefined,
        db,
      );
    }
    return outcome;
  });
}
