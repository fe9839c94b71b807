import { readFileSync } from 'node:fs';

/**
 * Time that no clock setting moves: how long the machine has been up (Linux CLOCK_BOOTTIME, which
 * counts suspended time too) and which boot that is. Two readings of the same boot differ by the
 * real time between them, whatever the wall clock did meanwhile — so footage written in this boot
 * has a true age even when the date it was filed under is wrong.
 */
export interface Uptime {
  /** Changes at every boot (`/proc/sys/kernel/random/boot_id`). */
  boot: string;
  upMs: number;
}

/** Undefined where the system cannot tell (not Linux): retention then goes by the clock alone. */
export type UptimeSource = () => Uptime | undefined;

let bootId: string | undefined | null = null;

export const systemUptime: UptimeSource = () => {
  if (bootId === null) bootId = readOrUndefined('/proc/sys/kernel/random/boot_id');
  const seconds = Number.parseFloat(readOrUndefined('/proc/uptime') ?? '');
  if (bootId === undefined || !Number.isFinite(seconds)) return undefined;
  return { boot: bootId, upMs: Math.floor(seconds * 1000) };
};

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    // No procfs (another system, a sandbox): no uptime, and retention goes by the clock alone.
    return undefined;
  }
}
