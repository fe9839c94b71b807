import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import type { ClockSyncConfig } from '../config/door-policy-config.js';
import type { ClockSyncStatus } from '../controllers/door-ports.js';
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';

/**
 * Whether the gateway's clock can be trusted for TOTP. Checked at start (before any door decides)
 * and periodically; until a check succeeds the clock counts as unsynchronised (fail closed).
 */
export type ProbeResult = { synchronised: boolean; detail: string };
export type ClockProbe = () => Promise<ProbeResult>;

export class ClockSyncMonitor implements ClockSyncStatus {
  private state = false;
  private timer: TimerHandle | undefined;
  private stopped = false;
  lastDetail = 'not checked yet';
  onChange: ((synchronised: boolean, detail: string) => void) | undefined;

  constructor(
    private readonly probe: ClockProbe,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  synchronised(): boolean {
    return this.state;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.check();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  async check(): Promise<boolean> {
    let result: ProbeResult;
    try {
      result = await this.probe();
    } catch (error) {
      result = { synchronised: false, detail: (error as Error).message };
    }
    const changed = result.synchronised !== this.state || this.lastDetail === 'not checked yet';
    this.state = result.synchronised;
    this.lastDetail = result.detail;
    if (changed) {
      if (result.synchronised) this.log.info({ detail: result.detail }, 'clock synchronised');
      else this.log.warn({ detail: result.detail }, 'clock NOT known to be synchronised: TOTP entry refused');
      // From a timer the check runs unawaited: a listener that throws must neither reject it
      // nor keep the next check from being scheduled.
      try {
        this.onChange?.(result.synchronised, result.detail);
      } catch (error) {
        this.log.error({ err: error }, 'handling a change of clock synchronisation failed');
      }
    }
    if (!this.stopped) {
      this.timer?.cancel();
      this.timer = this.clock.setTimeout(() => void this.check(), this.intervalMs);
    }
    return this.state;
  }
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 5000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/** The probe for each configured source. */
export function clockProbe(config: ClockSyncConfig, clock: Clock): ClockProbe {
  switch (config.source) {
    case 'none':
      return async () => ({
        synchronised: true,
        detail: 'clock synchronisation is not checked (source: none)',
      });
    case 'timedatectl':
      return async () => {
        const out = (await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'])).trim();
        return { synchronised: out === 'yes', detail: `timedatectl NTPSynchronized=${out}` };
      };
    case 'chrony':
      return async () => {
        // chronyc -c tracking: CSV; the last field is the leap status ("Normal" when synchronised).
        const fields = (await run('chronyc', ['-c', 'tracking'])).trim().split(',');
        const leap = fields[fields.length - 1] ?? '';
        return { synchronised: leap === 'Normal', detail: `chronyc leap status ${leap}` };
      };
    case 'file':
      return async () => {
        const path = config.file;
        if (!path) return { synchronised: false, detail: 'clockSync.file is not configured' };
        const [info, text] = await Promise.all([stat(path), readFile(path, 'utf8')]);
        const ageS = (clock.now() - info.mtimeMs) / 1000;
        const word = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
        const ok = ['synchronised', 'synchronized', 'yes', '1'].includes(word);
        if (!ok) return { synchronised: false, detail: `${path} says "${word}"` };
        if (ageS > config.maxAgeSeconds)
          return { synchronised: false, detail: `${path} is ${Math.round(ageS)} s old` };
        return { synchronised: true, detail: `${path} fresh (${Math.round(ageS)} s)` };
      };
  }
}
