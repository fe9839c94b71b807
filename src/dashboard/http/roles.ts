import type { Role } from '../auth/staff-store.js';

/**
 * Who may do what, by capability. Routes name one of these in `config.roles`; the role × route
 * matrix in docs/dashboard.md is generated from the routes and checked by a test.
 *
 * Separation of duties: administrators configure (directory, people, staff, retention) and may
 * watch, but do not respond to alarms or open doors; security staff watch and respond; auditors
 * read history and the audit log and export, and change nothing.
 */
export const Access = {
  /** Any signed-in staff member: their own session, password and authenticator. */
  anyStaff: ['admin', 'security', 'auditor'],
  /** Live doors, events, alarms, occupancy, gateway and camera health. */
  monitor: ['security', 'admin'],
  /**
   * The alarm list with its acknowledgements and resolutions. Auditors too: how alarms were
   * handled (who, when, with what comment) is what they review. An alarm shows where and what,
   * not who (its key, which may name a badge, is never served), so this reveals less than
   * `investigate`; changing an alarm stays with `respond`.
   */
  alarms: ['security', 'admin', 'auditor'],
  /**
   * People's photos beside their events in the live feed: those who watch the doors and must
   * compare a face with a badge. Not auditors: the event history names people without faces.
   */
  photos: ['security', 'admin'],
  /** Acknowledge and resolve alarms; unlock a door remotely; lockdown and evacuation. */
  respond: ['security'],
  /** Search the event history (personal data: who went where, when). */
  investigate: ['security', 'auditor'],
  /**
   * Watch camera footage and event clips (docs/video.md). The same people as `investigate`:
   * security staff watch, auditors review incidents, both for footage of the same people whose
   * movements they may already search. Administrators configure cameras and see their health
   * (`monitor`) but need not see who is in the room. Every view is audited.
   */
  video: ['security', 'auditor'],
  /** Read the audit log (who did what in the dashboard). */
  audit: ['auditor', 'admin'],
  /** Signed exports of the access log. */
  export: ['auditor'],
  /** Directory, people, staff accounts, retention policies and legal holds. */
  administer: ['admin'],
  /** Read the directory (names of sites, rooms, doors) needed to show anything at all. */
  directory: ['admin', 'security', 'auditor'],
} as const satisfies Record<string, readonly Role[]>;
