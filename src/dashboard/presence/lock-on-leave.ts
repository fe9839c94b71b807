import type { Logger } from '../../lib/logger.js';
import { PresenceService, type PresenceServiceOptions } from './presence-service.js';
import { WorkstationLocker, type WorkstationLockerOptions } from './workstation-locker.js';

export type LockOnLeaveOptions = Omit<PresenceServiceOptions, 'onLeave' | 'log'> &
  Omit<WorkstationLockerOptions, 'clock' | 'log'> & {
    /** The dashboard's log: presence and the locker log as its `presence` component. */
    log: Logger;
  };

/**
 * Presence as the dashboard runs it, with lock on leave: when a person's presence at a
 * workstation ends, the locker sends the workstation a signed lock and audits it.
 */
export function presenceWithLockOnLeave(options: LockOnLeaveOptions): PresenceService {
  const { messenger, signingKey, audit, log, ...presence } = options;
  const locker = new WorkstationLocker({
    messenger,
    signingKey,
    audit,
    clock: presence.clock,
    log: log.child({ component: 'presence' }),
  });
  return new PresenceService({
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
}
