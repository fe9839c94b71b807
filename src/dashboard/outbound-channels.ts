import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { AuditLog } from './audit/audit-log.js';
import { CentralMessenger } from './central-messenger.js';
import type { CentralMqttOptions } from './central-mqtt.js';
import type { LiveHub } from './live-hub.js';
import type { AlarmStore } from './storage/alarm-store.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';
import type { PeopleStore } from './storage/people-store.js';
import { VideoService } from './video/video-service.js';

export interface OutboundChannelsOptions {
  /** The dashboard's broker connection; each channel's client id adds its own suffix to it. */
  mqtt: CentralMqttOptions;
  signingKey: KeyObject | undefined;
  registry: GatewayRegistry;
  people: PeopleStore;
  alarms: AlarmStore;
  audit: AuditLog;
  pool: Pool;
  /** Where the messenger's alarm changes go, and where it reads command results from. */
  hub: LiveHub;
  clock: Clock;
  log: Logger;
}

/**
 * The dashboard's broker connections that ask things of gateways, started in this order: the
 * messenger (commands and credential sets; it reads command results from every stored event on
 * the hub) and the footage channel.
 */
export class OutboundChannels {
  private messengerInstance: CentralMessenger | undefined;
  private videoService: VideoService | undefined;

  constructor(private readonly options: OutboundChannelsOptions) {}

  async start(): Promise<void> {
    const { mqtt, signingKey, registry, pool, clock, hub, log } = this.options;
    this.messengerInstance = new CentralMessenger({
      ...mqtt,
      clientId: `${mqtt.clientId}-messenger`,
      signingKey,
      registry,
      people: this.options.people,
      pool,
      clock,
      log: log.child({ component: 'messenger' }),
      alarms: this.options.alarms,
      alarmsChanged: (alarms) => hub.publishAlarms(alarms),
    });
    await this.messengerInstance.start();
    const messenger = this.messengerInstance;
    // Every stored event reaches the hub, whichever instance stored it: so do command results.
    hub.subscribe({
      push: (events) => {
        try {
          messenger.onStored(events);
        } catch (error) {
          log.error({ err: error }, 'command results: could not read stored events');
        }
        return true;
      },
      close: () => undefined,
    });
    const video = new VideoService({
      client: { ...mqtt, clientId: `${mqtt.clientId}-footage`, signingKey, registry },
      pool,
      audit: this.options.audit,
      alarms: this.options.alarms,
      alarmsChanged: (changed) => hub.publishAlarms(changed),
      clock,
      log: log.child({ component: 'video' }),
    });
    await video.start();
    this.videoService = video;
  }

  /** Stops the messenger, then the footage channel; also after a start that failed part-way. */
  async stop(): Promise<void> {
    await this.messengerInstance?.stop();
    this.messengerInstance = undefined;
    await this.videoService?.stop();
    this.videoService = undefined;
  }

  /** Set as start() creates it, before it is connected; undefined after stop(). */
  get messenger(): CentralMessenger | undefined {
    return this.messengerInstance;
  }

  /** Set once connected; undefined after stop(). */
  get video(): VideoService | undefined {
    return this.videoService;
  }
}
