import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { LoginCheckThrottle } from './login-check-throttle.js';
import { PresenceService, type PresenceServiceOptions } from './presence-service.js';
import { WorkstationAgents } from './workstation-agents.js';
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

/**
 * The dashboard's whole workstation side: presence with lock on leave, the watch over the
 * workstations' lock agents, whose shutdown settles what their workstation owes, and the
 * throttle on their login checks.
 */
export function workstationSide(
  options: LockOnLeaveOptions & {
    pool: Pool;
    alarms: AlarmStore;
    alarmsChanged: (changed: AlarmView[]) => void;
    /** How long an agent may be silent before its warning. */
    silenceMs: number;
  },
): {
  presence: PresenceService;
  locker: WorkstationLocker;
  agents: WorkstationAgents;
  loginChecks: LoginCheckThrottle;
} {
  const { pool, silenceMs, ...lockOnLeave } = options;
  const { presence, locker } = presenceWithLockOnLeave(lockOnLeave);
  const agents = new WorkstationAgents({
    pool,
    alarms: options.alarms,
    alarmsChanged: options.alarmsChanged,
    audit: options.audit,
    silenceMs,
    onShutdown: (workstation) => locker.shutDown(workstation),
    log: options.log.child({ component: 'presence' }),
  });
  const { settings, clock } = lockOnLeave;
  const loginChecks = new LoginCheckThrottle({
    limits: { burst: settings.loginCheckBurst, intervalMs: settings.loginCheckIntervalSeconds * 1000 },
    audit: options.audit,
    alarms: options.alarms,
    alarmsChanged: options.alarmsChanged,
    siteOf: (workstation) => presence.workstation(workstation)?.site,
    clock,
    log: options.log.child({ component: 'presence' }),
  });
  return { presence, locker, agents, loginChecks };
}
