import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { JOB_LOCKS, withJobLock } from '../storage/database.js';
import { DISCONNECTED_KEY } from './gateway-status-watch.js';

/**
 * Raises a `gateway-offline` alarm for a gateway that has gone quiet: its newest sign of life (the
 * overview's `life` fact: `gateway.online`, `gateway.heartbeat`, `gateway.offline`) is a shutdown
 * (warning) or older than `offlineAfterMs` (critical: it crashed, lost power or its network, or
 * cannot reach the broker). The alarm clears with the next sign of life. Gateways never heard from
 * are not watched (not yet installed), nor those silent for longer than a week: their alarm was
 * raised then, and staff who resolved it decided. Times are the database's, against the gateways'
 * own times of their events. A dashboard that starts judges only after one `offlineAfterMs`: the
 * gateways' backlogs may still be arriving. Runs on one dashboard instance at a time (advisory lock).
 */
export interface GatewayWatchdogOptions {
  pool: Pool;
  alarms: AlarmStore;
  log: Logger;
  offlineAfterMs: number;
  intervalMs?: number;
  /** Alarms raised or cleared (for the live streams). */
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

export const OFFLINE_KEY = 'gateway-offline';

export class GatewayWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private first: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: GatewayWatchdogOptions) {}

  start(): void {
    const tick = () => {
      if (!this.running) this.running = this.scan().finally(() => (this.running = undefined));
    };
    this.first = setTimeout(() => {
      tick();
      this.timer = setInterval(tick, this.options.intervalMs ?? 15_000);
      this.timer.unref();
    }, this.options.offlineAfterMs);
    this.first.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  async scan(): Promise<void> {
    const { pool, log } = this.options;
    try {
      await withJobLock(pool, log, JOB_LOCKS.gatewayWatch, (client) => this.scanLocked(client));
    } catch (error) {
      log.error({ err: error }, 'gateway watchdog failed');
    }
  }

  private async scanLocked(db: PoolClient): Promise<void> {
    const { alarms, log, offlineAfterMs } = this.options;
    const rows = await db.query<{
      site: string;
      gateway: string;
      kind: string;
      /** Its last sign of life: the fact's time, or when it arrived if earlier (LatestFactsStore). */
      seen_at: Date;
      silent: boolean;
      alarmed: boolean;
      disconnected: boolean;
    }>(
      `SELECT g.site, g.id AS gateway, f.kind, f.seen_at,
              f.seen_at < now() - make_interval(secs => $2) AS silent,
              EXISTS (SELECT 1 FROM alarms a
                       WHERE a.source = 'central' AND a.site = g.site AND a.gateway = g.id
                         AND a.key = $1 AND a.cleared_at IS NULL) AS alarmed,
              EXISTS (SELECT 1 FROM alarms a
                       WHERE a.source = 'central' AND a.site = g.site AND a.gateway = g.id
                         AND a.key = $3 AND a.cleared_at IS NULL) AS disconnected
         FROM gateways g
         JOIN latest_facts f ON f.site = g.site AND f.gateway = g.id AND f.facet = 'life' AND f.subject = ''
        WHERE f.seen_at > now() - interval '7 days' AND g.retired_at IS NULL`,
      [OFFLINE_KEY, offlineAfterMs / 1000, DISCONNECTED_KEY],
    );
    for (const row of rows.rows) {
      const at = row.seen_at.toISOString();
      const shutDown = row.kind === 'gateway.offline';
      const silent = row.silent;
      // A clean shutdown explains the broker's `offline` (GatewayStatusWatch), which may have come
      // before the shutdown event: its own warning below says it.
      if (shutDown && row.disconnected)
        this.options.alarmsChanged?.(await alarms.clearCentral(DISCONNECTED_KEY, row.site, row.gateway));
      if ((shutDown || silent) && !row.alarmed) {
        const raised = await alarms.raiseCentral({
          alarm: 'gateway-offline',
          key: OFFLINE_KEY,
          severity: shutDown ? 'warning' : 'critical',
          site: row.site,
          gateway: row.gateway,
          detail: shutDown
            ? `${row.site}/${row.gateway} shut down at ${at}`
            : `no sign of life from ${row.site}/${row.gateway} since ${at} (more than ${Math.round(offlineAfterMs / 1000)} s)`,
        });
        this.options.alarmsChanged?.(raised);
        log.warn({ site: row.site, gateway: row.gateway, lastSeen: at, shutDown }, 'gateway offline');
      } else if (!shutDown && !silent && row.alarmed) {
        this.options.alarmsChanged?.(await alarms.clearCentral(OFFLINE_KEY, row.site, row.gateway));
        log.info({ site: row.site, gateway: row.gateway, lastSeen: at }, 'gateway back online');
      }
    }
  }
}
