import { createHmac, randomBytes } from 'node:crypto';

/**
 * A gateway's report of the alarm conditions it holds (`alarm.conditions`), sent when the central
 * side asks for it (`alarms.report`): the central side closes the gateway's open conditions that
 * were raised below the report's sequence number and are not in it (docs/protocol.md).
 *
 * A condition is named by a keyed digest of its key, not by the key: a lock-out's key names a
 * badge, and the report is stored as evidence beside events that an erasure removes. The key of
 * the digests (`salt`) comes with the request and is kept centrally only while a report can
 * still be matched against late events; after that the stored report names no one.
 */

/** The most conditions one report lists: at ~70 bytes each it stays well under an event's 64 KiB. */
export const MAX_REPORTED_CONDITIONS = 500;

/** 16 random bytes, base64url: the key of one report's digests. */
export const SALT_PATTERN = '^[A-Za-z0-9_-]{22}$';
export const DIGEST_PATTERN = '^[A-Za-z0-9_-]{22}$';

export function newReportSalt(): string {
  return randomBytes(16).toString('base64url');
}

/** HMAC-SHA256 of the condition's key under the request's salt, cut to 128 bits, base64url. */
export function conditionDigest(salt: string, key: string): string {
  return createHmac('sha256', Buffer.from(salt, 'base64url'))
    .update(key, 'utf8')
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

/**
 * The report's data for these conditions: all of them, or none when there are more than one report
 * may list (`held` then says how many; the central side closes nothing on such a report).
 */
export function conditionsReport<A extends string>(
  request: string,
  salt: string,
  conditions: ReadonlyArray<{ alarm: A; key: string }>,
): { request: string; held: number; conditions: Array<{ alarm: A; digest: string }> } {
  const listed = conditions.length <= MAX_REPORTED_CONDITIONS ? conditions : [];
  return {
    request,
    held: conditions.length,
    conditions: listed.map(({ alarm, key }) => ({ alarm, digest: conditionDigest(salt, key) })),
  };
}
