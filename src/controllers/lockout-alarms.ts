import type { Clock } from '../lib/clock.js';
import { type AccessRules, badgeKey, readerKey } from './access-rules.js';

/**
 * The alarms of the failure throttles (AccessRules): a badge locked out after too many wrong codes,
 * a reader refusing every badge after too many failures. Each is raised when its lockout begins and
 * cleared when it ends.
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
