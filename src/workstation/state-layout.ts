/**
 * Where the workstation side keeps its files under `stateDir`, in one place for the login gate,
 * its retention and the erasure of a user. Every file that names a user is listed here.
 */
export const USER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** `confirmed/<user>.json`: central's last allow ({ at }), the start of the grace. */
export const CONFIRMED_DIR = 'confirmed';
/** `break-glass/<user>.json`: a break-glass grant ({ user, reason, at, until }). */
export const GRANTS_DIR = 'break-glass';
/** `reports/<at>-<user>.json`: break-glass reports central has not heard of yet. */
export const REPORTS_DIR = 'reports';
/** The append-only journal of break-glass use, one JSON object a line. */
export const JOURNAL_FILE = 'break-glass.log';

const REPORT_NAME = /^(\d{1,15})-([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.json$/;

export function reportName(at: number, user: string): string {
  return `${at}-${user}.json`;
}

/** The time and user a report file is named after; undefined for a name of another shape. */
export function parseReportName(name: string): { at: number; user: string } | undefined {
  const match = REPORT_NAME.exec(name);
  return match ? { at: Number(match[1]), user: match[2] as string } : undefined;
}

/** A temporary file of an atomic write (`<name>.tmp-<pid>`, src/lib/state-files.ts), with its writer. */
export function tempFileWriter(name: string): number | undefined {
  const match = /\.tmp-(\d{1,10})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
