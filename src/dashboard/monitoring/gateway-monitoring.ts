import type { Pool } from 'pg';
import type { DashboardConfig } from '../../config/dashboard-config.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { CentralMqttOptions } from '../central-mqtt.js';
import type { DashboardOptions } from '../dashboard.js';
import { GapScanner } from '../ingest/gap-scanner.js';
import type { LiveHub } from '../live-hub.js';
import type { AlarmStore } from '../storage/alarm-store.js';
import type { SequenceStore } from '../storage/sequence-store.js';
import { GatewayStatusWatch } from './gateway-status-watch.js';
import { GatewayWatchdog } from './gateway-watchdog.js';

export type GatewayMonitoringOptions = Pick<DashboardOptions, 'gapScanMs' | 'gapGraceMs' | 'gapResendMs'> & {
  config: DashboardConfig;
  /** The dashboard's broker connection; the status watch's client id adds `-status` to it. */
  mqtt: CentralMqttOptions;
  pool: Pool;
  sequences: SequenceStore;
  alarms: AlarmStore;
  /** Asks gateways to send their missing events again. */
  messenger: CentralMessenger;
  /** Where the alarms raised or cleared go, for the live streams. */
  hub: LiveHub;
  clock: Clock;
  log: Logger;
};

/**
 * What watches the gateways from the dashboard, started and stopped together in this order: the
 * gap scanner (missing sequence numbers, asked for again), the watchdog (gateways gone quiet) and
 * the status watch (the broker's word that a gateway's connection is gone).
 */
export class GatewayMonitoring {
  private gapScanner: GapScanner | undefined;
  private watchdog: GatewayWatchdog | undefined;
  private statusWatch: GatewayStatusWatch | undefined;

  constructor(private readonly options: GatewayMonitoringOptions) {}

  async start(): Promise<void> {
    const { config, mqtt, pool, alarms, hub, log } = this.options;
    const offlineAfterMs = (config.ingest.offlineAfterSeconds ?? 180) * 1000;
    this.gapScanner = new GapScanner({
      pool,
      sequences: this.options.sequences,
      alarms,
      messenger: this.options.messenger,
      clock: this.options.clock,
      log: log.child({ component: 'gaps' }),
      intervalMs: this.options.gapScanMs,
      graceMs: this.options.gapGraceMs,
      resendEveryMs: this.options.gapResendMs,
      alarmsChanged: (changed) => hub.publishAlarms(changed),
    });
    this.gapScanner.start();
    this.watchdog = new GatewayWatchdog({
      pool,
      alarms,
      log: log.child({ component: 'gateways' }),
      offlineAfterMs,
      alarmsChanged: (changed) => hub.publishAlarms(changed),
    });
    this.watchdog.start();
    this.statusWatch = new GatewayStatusWatch({
      mqtt: {
        url: mqtt.url,
        clientId: `${mqtt.clientId}-status`,
        ...(mqtt.username ? { username: mqtt.username } : {}),
        ...(mqtt.password ? { password: mqtt.password } : {}),
        ...(mqtt.tls ? { tls: mqtt.tls } : {}),
      },
      sites: config.ingest.sites,
      pool,
      alarms,
      log: log.child({ component: 'gateways' }),
      offlineAfterMs,
      alarmsChanged: (changed) => hub.publishAlarms(changed),
    });
    await this.statusWatch.start();
  }

  /** Stops what started, in the order it started; also after a start that failed part-way. */
  async stop(): Promise<void> {
    await this.gapScanner?.stop();
    this.gapScanner = undefined;
    await this.watchdog?.stop();
    this.watchdog = undefined;
    await this.statusWatch?.stop();
    this.statusWatch = undefined;
  }

  /** Undefined before start() and after stop(). */
  get gaps(): GapScanner | undefined {
    return this.gapScanner;
  }

  /** Undefined before start() and after stop(). */
  get gatewayWatchdog(): GatewayWatchdog | undefined {
    return this.watchdog;
  }
}
