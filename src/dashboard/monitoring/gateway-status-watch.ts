import type { MqttClient } from 'mqtt';
import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import { parseTopic, subscriptions } from '../../protocol/topics.js';
import { type CentralMqttOptions, connectCentralMqtt } from '../central-mqtt.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';

/** The alarm's key: beside the watchdog's `gateway-offline`, which judges by silence. */
export const DISCONNECTED_KEY = 'gateway-disconnected';

export interface GatewayStatusWatchOptions {
  mqtt: CentralMqttOptions;
  /** Sites to watch; empty means all. */
  sites: readonly string[];
  pool: Pool;
  alarms: AlarmStore;
  log: Logger;
  /** The watchdog's silence (GatewayWatchdog): a gateway quiet for longer is its to judge. */
  offlineAfterMs: number;
  /** Alarms raised or cleared (for the live streams). */
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

/**
 * The broker's word that a gateway's connection is gone, seconds after a crash instead of the
 * watchdog's `offlineAfterSeconds`: each gateway's retained status topic, which its Last Will
 * turns to `offline` when the broker loses the connection, and the gateway back to `online` when
 * it connects again. `offline` raises a `gateway-offline` alarm (warning, key
 * `gateway-disconnected`); `online` clears it. The status is not signed, so it is only a hint:
 * it never raises more than a warning, and only for a gateway whose newest sign of life (the
 * overview's `life` fact) is a running one younger than `offlineAfterMs`. A gateway silent for
 * longer is the watchdog's (critical), one that shut down cleanly has its own warning, and one
 * never heard from is not watched. So the retained statuses every (re)connect brings back raise
 * nothing for gateways long gone. Every instance watches; raising an open alarm again only
 * counts it.
 */
export class GatewayStatusWatch {
  private client: MqttClient | undefined;
  private work: Promise<void> = Promise.resolve();
  /** Aborted by stop: a start still waiting for the broker ends. */
  private readonly starting = new AbortController();

  constructor(private readonly options: GatewayStatusWatchOptions) {}

  async start(): Promise<void> {
    const { mqtt, sites, log } = this.options;
    const client = await connectCentralMqtt(mqtt, 'gateway status', log, this.starting.signal);
    this.client = client;
    // One after the other, in the order they came: an `online` after an `offline` clears it.
    client.on('message', (topic, payload) => {
      this.work = this.work.then(() => this.onStatus(topic, payload));
    });
    const filters =
      sites.length > 0 ? sites.map((site) => subscriptions.status(site)) : [subscriptions.status()];
    await client.subscribeAsync(filters, { qos: 1 });
  }

  async stop(): Promise<void> {
    this.starting.abort();
    await this.client?.endAsync();
    this.client = undefined;
    await this.work;
  }

  /** One status message, retained or not; never throws. */
  async onStatus(topic: string, payload: Buffer): Promise<void> {
    const { log } = this.options;
    const address = parseTopic(topic);
    if (!address.ok || address.address.channel !== 'status') return;
    const { site, gateway } = address.address;
    // An empty retained message deletes the status: nothing to judge.
    if (payload.length === 0) return;
    const state = statusOf(payload);
    if (!state) {
      log.warn(
        { site, gateway, payload: payload.subarray(0, 200).toString('utf8') },
        'security: malformed gateway status ignored',
      );
      return;
    }
    try {
      const changed =
        state === 'offline'
          ? await this.disconnected(site, gateway)
          : await this.options.alarms.clearCentral(DISCONNECTED_KEY, site, gateway);
      if (changed.length > 0) this.options.alarmsChanged?.(changed);
    } catch (error) {
      log.error({ err: error, site, gateway, state }, 'could not judge a gateway status');
    }
  }

  private async disconnected(site: string, gateway: string): Promise<AlarmView[]> {
    const { pool, alarms, log, offlineAfterMs } = this.options;
    const life = await pool.query<{ kind: string; recent: boolean; at: Date }>(
      `SELECT f.kind, f.seen_at AS at, f.seen_at > now() - make_interval(secs => $3) AS recent
         FROM gateways g
         JOIN latest_facts f ON f.site = g.site AND f.gateway = g.id AND f.facet = 'life' AND f.subject = ''
        WHERE g.site = $1 AND g.id = $2 AND g.retired_at IS NULL`,
      [site, gateway, offlineAfterMs / 1000],
    );
    const row = life.rows[0];
    if (!row?.recent || row.kind === 'gateway.offline') return [];
    log.warn({ site, gateway, lastSeen: row.at.toISOString() }, 'the broker reports a gateway disconnected');
    return alarms.raiseCentral({
      alarm: 'gateway-offline',
      key: DISCONNECTED_KEY,
      severity: 'warning',
      site,
      gateway,
      detail:
        `the broker reports the connection to ${site}/${gateway} lost (its Last Will; not signed, a hint); ` +
        `last sign of life ${row.at.toISOString()}, critical after ${Math.round(offlineAfterMs / 1000)} s without one`,
    });
  }
}

function statusOf(payload: Buffer): 'online' | 'offline' | undefined {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { state?: unknown } | null;
    const state = parsed?.state;
    return state === 'online' || state === 'offline' ? state : undefined;
  } catch {
    return undefined;
  }
}
