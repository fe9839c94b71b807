import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { EventBody } from '../protocol/event-kinds.js';
import type { CredentialCache } from './credential-cache.js';
import type { GatewayStateStore } from './gateway-state-store.js';

/**
 * What the gateway does at start when saved state cannot be read: it keeps going on the safe
 * assumption and tells officers, rather than refusing to start.
 */

/**
 * Loads the saved credential set. One that cannot be read (damaged on the disk, sealed under a key
 * that is gone) does not stop the gateway: it starts without a set, denying every badge
 * (`credentials-stale`), and the central side's set, asked for at start, replaces it.
 */
export function loadSavedCredentials(
  credentials: CredentialCache,
  alarms: AlarmBook,
  clock: Clock,
  log: Logger,
): void {
  try {
    credentials.load();
  } catch (error) {
    log.error({ err: error }, 'the saved credential set cannot be read; starting without one');
    alarms.notify({
      alarm: 'credentials-rejected',
      key: `credentials-rejected:${clock.now()}`,
      severity: 'critical',
      detail:
        `the saved credential set cannot be read (${(error as Error).message}); every badge is refused until the central side's set arrives`.slice(
          0,
          500,
        ),
    });
  }
  if (credentials.versionDamaged) {
    log.error(
      { reason: credentials.versionDamaged },
      'the highest credential set version applied is not known',
    );
    alarms.notify({
      alarm: 'internal-error',
      key: 'credentials-version-damaged',
      severity: 'warning',
      detail:
        `${credentials.versionDamaged}; it now holds version ${credentials.newestVersion} (of the saved set, if any), so an older set than one applied before is taken if the saved set is lost too`.slice(
          0,
          500,
        ),
    });
  }
}

/**
 * The door state could not be read: the store assumed a site lockdown, no evacuation and no
 * command memory (see GatewayStateStore.load). Officers are told, and the lockdown is reported
 * as any other, so the dashboard shows it and an officer can end it.
 */
export function doorStateLost(
  alarms: AlarmBook,
  reason: string,
  issuedThrough: number,
  emit: (event: EventBody) => void,
): void {
  alarms.raise({
    alarm: 'internal-error',
    key: 'door-state-lost',
    severity: 'critical',
    // What was assumed first: the reason, from the file, may be long.
    detail:
      `door state lost: the site is held in lockdown until an officer ends it, no evacuation is in force, and commands issued up to ${new Date(issuedThrough).toISOString()} are refused as possibly run before; door-state.json could not be read (${reason})`.slice(
        0,
        500,
      ),
  });
  emit({ kind: 'lockdown.changed', data: { active: true } });
}

/**
 * The clock is synchronised: a lost state's command bound taken from a clock that booted far
 * ahead is lowered to the time of the start (GatewayStateStore.clockSynchronised), so that an
 * officer's command, the one ending the lockdown too, is not refused until real time catches up.
 */
export function lostBoundChecked(state: GatewayStateStore, log: Logger): void {
  const change = state.clockSynchronised();
  if (!change) return;
  log.warn(
    { from: new Date(change.from).toISOString(), to: new Date(change.to).toISOString() },
    'the clock was ahead when the door state was found lost: commands are now refused only if issued up to the start by the synchronised clock',
  );
}

/**
 * The alarm conditions of the last run could not be read: the book starts empty, and those that
 * ended during the restart are closed at the central side only by the gateway's report (a central
 * side that asks for it); the damaged file itself is a defect staff should know of.
 */
export function alarmConditionsLost(alarms: AlarmBook, reason: string): void {
  alarms.raise({
    alarm: 'internal-error',
    key: 'alarm-state-lost',
    severity: 'warning',
    detail:
      `the alarm conditions active before the restart are unknown: those that ended meanwhile are closed at the central side by the gateway's report once the book has settled; alarm-conditions.json could not be read (${reason})`.slice(
        0,
        500,
      ),
  });
}
