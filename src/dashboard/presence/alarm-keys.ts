import { createHash } from 'node:crypto';

/** The longest alarm key the alarm store keeps. */
const MAX_KEY = 200;

/**
 * An alarm key naming a workstation: `<prefix>:<id>`, or for an id too long for a key (ids are
 * host names of up to 253 characters) its start and a digest of the whole id, so that two long
 * ids sharing a start never share an alarm.
 */
export function workstationAlarmKey(prefix: string, workstation: string): string {
  const key = `${prefix}:${workstation}`;
  if (key.length <= MAX_KEY) return key;
  const digest = createHash('sha256').update(workstation, 'utf8').digest('hex').slice(0, 32);
  return `${key.slice(0, MAX_KEY - digest.length - 1)}~${digest}`;
}
