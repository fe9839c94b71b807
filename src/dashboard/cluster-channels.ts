import { ID_PATTERN } from '../protocol/ids.js';
import type { StoredEvent } from './storage/event-store.js';

/**
 * The PostgreSQL NOTIFY channels dashboard instances tell each other things on, and what each
 * notice looks like: written by whoever announces (the ingest pipeline, ClusterEvents for alarm
 * changes, `identgate gateways retire`, `identgate people erase`) and read by ClusterEvents, which
 * ignores a malformed one.
 */

/** The channel an ingest transaction announces its stored events on (see IngestPipeline). */
export const STORED_CHANNEL = 'identgate_stored';
/** The channel alarm changes are announced on: `<instance>:<id>,<id>,…`. */
export const ALARMS_CHANNEL = 'identgate_alarms';
/** The channel a retirement is announced on (`identgate gateways retire`); each instance then forgets the gateway. */
export const GATEWAYS_CHANNEL = 'identgate_gateways';
/**
 * The channel a site's credentials changed on outside a dashboard (`identgate people erase`):
 * `<site>`. Each instance publishes the site's credential sets again, so that gateways drop an
 * erased person at once rather than at the hourly refresh.
 */
export const CREDENTIALS_CHANNEL = 'identgate_credentials';

/**
 * The channel a workstation's registration is announced on (`identgate workstation register`):
 * `<workstation id>`. Each instance re-reads the directory, so that an old token stops working
 * there at once rather than at the next periodic refresh.
 */
export const WORKSTATIONS_CHANNEL = 'identgate_workstations';

const STORED_NOTICE = /^([A-Za-z0-9-]{1,64}):(\d{1,15}):(\d{1,15})$/;
/** Far wider than the numbers of one transaction. */
const MAX_RANGE = 100_000;
const SITE_NOTICE = new RegExp(ID_PATTERN);
const ALARM_NOTICE = /^([A-Za-z0-9-]{1,64}):(\d{1,18}(?:,\d{1,18}){0,499})$/;
const ALARMS_PER_NOTICE = 500;

/** `<instance>:<lowest>:<highest>` — which dashboard instance stored which ingest numbers. */
export function storedNotice(instance: string, stored: readonly StoredEvent[]): string | undefined {
  if (stored.length === 0) return undefined;
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  for (const { ingestNo } of stored) {
    if (ingestNo < low) low = ingestNo;
    if (ingestNo > high) high = ingestNo;
  }
  return `${instance}:${low}:${high}`;
}

/** A stored-events notice read; undefined when malformed or wider than any one transaction. */
export function readStoredNotice(
  payload: string,
): { instance: string; low: number; high: number } | undefined {
  const match = STORED_NOTICE.exec(payload);
  const low = Number(match?.[2]);
  const high = Number(match?.[3]);
  if (!match || low > high || high - low > MAX_RANGE) return undefined;
  return { instance: match[1] as string, low, high };
}

/** The notices that announce changes of these alarms, at most 500 ids each. */
export function alarmNotices(instance: string, ids: readonly number[]): string[] {
  const notices: string[] = [];
  for (let start = 0; start < ids.length; start += ALARMS_PER_NOTICE) {
    notices.push(`${instance}:${ids.slice(start, start + ALARMS_PER_NOTICE).join(',')}`);
  }
  return notices;
}

/** An alarm-changes notice read; undefined when malformed. */
export function readAlarmNotice(payload: string): { instance: string; ids: number[] } | undefined {
  const match = ALARM_NOTICE.exec(payload);
  if (!match) return undefined;
  return { instance: match[1] as string, ids: (match[2] as string).split(',').map(Number) };
}

/** Whether a changed-credentials notice names a site. */
export function isSiteNotice(payload: string): boolean {
  return SITE_NOTICE.test(payload);
}
