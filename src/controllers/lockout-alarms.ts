import type { Clock, TimerHandle } from '../lib/clock.js';
import { type AccessRules, badgeKey, readerKey } from './access-rules.js';
import type { AlarmBook } from './alarm-book.js';

/**
 * The alarms of the failure throttles (AccessRules): a badge locked out after too many wrong codes,
 * a reader refusing every badge after too many failures. Each is raised when its lockout begins and
 * cleared when it ends, also when a restart comes in between.
 */

/** A wrong code for this badge; the failure that locks it out raises `badge-locked-out`. */
export function badgeFailure(
  ports: { rules: AccessRules; clock: Clock },
  door: string,
  badge: string,
  person: string,
  now: number,
): void {
  const { rules, clock } = ports;
  if (!rules.badgeThrottle.fail(badgeKey(badge), now)) return;
  const key = `badge-locked-out:${badge}`;
  rules.alarms.raise({
    alarm: 'badge-locked-out',
    key,
    severity: 'warning',
    door,
    person,
    badge,
    detail: `${rules.settings.badgeThrottle.maxFailures} failed codes; locked out for ${Math.round(rules.settings.badgeThrottle.lockoutMs / 60_000)} min`,
  });
  clock.setTimeout(() => rules.alarms.clear(key, 'lockout ended'), rules.settings.badgeThrottle.lockoutMs);
}

/** An unknown badge or a wrong code at this reader; the failure that throttles it raises `reader-throttled`. */
export function readerFailure(
  ports: { rules: AccessRules; clock: Clock },
  door: string,
  direction: 'in' | 'out',
  now: number,
): void {
  const { rules, clock } = ports;
  if (!rules.readerThrottle.fail(readerKey(door, direction), now)) return;
  const key = `reader-throttled:${door}:${direction}`;
  rules.alarms.raise({
    alarm: 'reader-throttled',
    key,
    severity: 'warning',
    door,
    detail: `${rules.settings.readerThrottle.maxFailures} failures at this reader; refusing all badges for ${Math.round(rules.settings.readerThrottle.lockoutMs / 1000)} s`,
  });
  clock.setTimeout(() => rules.alarms.clear(key, 'throttle ended'), rules.settings.readerThrottle.lockoutMs);
}

/**
 * Lockouts outlast a restart in the door state, their alarms in the alarm book: one still in
 * force is cleared when it ends, as before the restart; one that ended meanwhile at once.
 * Returns the timers that will clear them.
 */
export function resumeLockoutAlarms(alarms: AlarmBook, rules: AccessRules, clock: Clock): TimerHandle[] {
  const timers: TimerHandle[] = [];
  const now = clock.now();
  for (const { alarm, key } of alarms.carriedOver) {
    const lockout = lockoutOf(alarm, key);
    if (!lockout) continue;
    const { throttleKey, ended } = lockout;
    const throttle = lockout.reader ? rules.readerThrottle : rules.badgeThrottle;
    if (!throttle.isLocked(throttleKey, now)) {
      alarms.clear(key, ended);
      continue;
    }
    alarms.confirm(key);
    const until = throttle.lockedUntilMs(throttleKey) ?? now;
    timers.push(clock.setTimeout(() => alarms.clear(key, ended), until - now));
  }
  return timers;
}

/** The throttle entry behind a lockout alarm's key, and what its clearing says. */
function lockoutOf(
  alarm: string,
  key: string,
): { reader: boolean; throttleKey: string; ended: string } | undefined {
  if (alarm === 'badge-locked-out') {
    const badge = /^badge-locked-out:(.+)$/.exec(key)?.[1];
    return badge === undefined
      ? undefined
      : { reader: false, throttleKey: badgeKey(badge), ended: 'lockout ended' };
  }
  if (alarm === 'reader-throttled') {
    const match = /^reader-throttled:(.+):(in|out)$/.exec(key);
    if (!match) return undefined;
    const direction = match[2] === 'out' ? 'out' : 'in';
    return { reader: true, throttleKey: readerKey(match[1] as string, direction), ended: 'throttle ended' };
  }
  return undefined;
}
