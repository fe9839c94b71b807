import type { Logger } from '../../lib/logger.js';
import { PresenceService, type PresenceServiceOptions } from './presence-service.js';
import { WorkstationLocker, type WorkstationLockerOptions } from './workstation-locker.js';

export type LockOnLeaveOptions = Omit<PresenceServiceOptions, 'onLeave' | 'log'> &
  Omit<WorkstationLockerOptions, 'clock' | 'log' | 'settings'> & {
    /** The dashboard's log: presence and the locker log as its `presence` component. */
    log: Logger;
  };

/**
 * Presence as the dashboard runs it, with lock on leave: when a person's presence at a
 * workstation ends, the locker sends the workstation a signed lock, audits it, and keeps it owed
 * until the workstation confirms it (the locker's start() sends owed locks again).
 */
export function presenceWithLockOnLeave(options: LockOnLeaveOptions): {
  presence: PresenceService;
  locker: WorkstationLocker;
} {
  const { messenger, signingKey, audit, owed, alarms, alarmsChanged, log, ...presence } = options;
  const locker = new WorkstationLocker({
    messenger,
    signingKey,
    audit,
    ...(owed ? { owed } : {}),
    ...(alarms ? { alarms } : {}),
    ...(alarmsChanged ? { alarmsChanged } : {}),
    settings: presence.settings,
    clock: presence.clock,
    log: log.child({ component: 'presence' }),
  });
  const service = new PresenceService({
    ...presence,
    log: log.child({ component: 'presence' }),
    // Lock on leave; the locker logs and audits its own failures.
    onLeave: (workstation, person, reason) => {
      locker
        .lock(workstation, person, reason)
        .catch((error: Error) =>
          log.error({ err: error, workstation: workstation.id }, 'lock on leave not audited'),
        );
    },
  });
  return { presence: service, locker };
}
