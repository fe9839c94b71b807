import type { GatewayConfig } from '../config/gateway-config.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { importCentralKeys } from '../protocol/signing.js';
import { topics } from '../protocol/topics.js';
import { CentralCommands } from './central-commands.js';
import type { CredentialCache } from './credential-cache.js';
import { CredentialSync } from './credential-sync.js';
import type { DoorRuntime } from './door-runtime.js';
import { FootageServer } from './footage-server.js';
import type { GatewayIdentity } from './gateway-identity.js';
import type { GatewayLink } from './gateway-link.js';
import type { GatewayStateStore } from './gateway-state-store.js';
import type { OutboxJournal } from './outbox/outbox-journal.js';
import type { Recorder } from './recorder/recorder.js';

export interface CentralWiringOptions {
  config: GatewayConfig;
  link: GatewayLink;
  identity: GatewayIdentity;
  credentials: CredentialCache;
  journal: OutboxJournal;
  /** Remembers the commands already run (see CentralCommands). */
  memory: GatewayStateStore;
  runtime: DoorRuntime;
  clock: Clock;
  log: Logger;
  record: (event: EventBody) => void;
  recorder: () => Recorder | undefined;
  /** Answers the central side's request for the alarm conditions (CarriedConditions.report). */
  reportAlarms: (request: string, salt: string) => Promise<number>;
}

/**
 * What the central side sends over the gateway's link: commands, the credential set and footage
 * requests, each subscribed and handed to the component that verifies and carries it out.
 */
export class CentralWiring {
  private readonly credentialSync: CredentialSync;
  private readonly commands: CentralCommands;
  private readonly footage: FootageServer;

  constructor(options: CentralWiringOptions) {
    const { config, link, identity, journal, runtime, clock, log, record } = options;
    const { publicKey, alsoTrustedKeys = [] } = config.central;
    const centralKey = publicKey ? importCentralKeys(publicKey, alsoTrustedKeys) : undefined;
    if (!centralKey)
      log.warn('central.publicKey is not configured: commands and credential sets will be refused');
    else
      log.info(
        { centralKeys: [publicKey, ...alsoTrustedKeys] },
        'commands, credential sets and footage requests are accepted when signed by one of these central keys',
      );
    this.credentialSync = new CredentialSync({
      site: config.site,
      gateway: config.id,
      centralKey,
      keys: identity.encryption,
      cache: options.credentials,
      clock,
      alarms: runtime.alarms,
      record,
      applied: () => {
        runtime.rules.checkHealth(clock.now());
        runtime.forgetPeople();
      },
      log: log.child({ component: 'credential-sync' }),
    });
    this.credentialSync.started();
    const credentialsTopic = topics.credentials(config.site, config.id);
    this.commands = new CentralCommands({
      site: config.site,
      gateway: config.id,
      centralKey,
      clock,
      memory: options.memory,
      alarms: runtime.alarms,
      record,
      log: log.child({ component: 'commands' }),
      targets: {
        unlock: (door, durationMs) => runtime.remoteUnlock(door, durationMs),
        lockdown: (active, room) => runtime.setLockdown(active, room),
        evacuation: (active) => runtime.setEvacuation(active),
        syncCredentials: () => {
          this.credentialSync.request();
          link.resubscribe(credentialsTopic);
        },
        resend: async (fromSeq, toSeq) => {
          const sent = await link.republish(journal.read(fromSeq, toSeq));
          return { sent, extent: journal.extent() };
        },
        reportAlarms: options.reportAlarms,
      },
    });
    link.subscribe(topics.commands(config.site, config.id), (payload, retained, redelivered) =>
      this.commands.handle(payload, retained, redelivered),
    );
    link.subscribe(credentialsTopic, (payload) => this.credentialSync.receive(payload));
    this.footage = new FootageServer({
      site: config.site,
      gateway: config.id,
      centralKey,
      identityKey: identity.privateKey,
      recorder: options.recorder,
      publish: (topic, payload) => link.publish(topic, payload),
      alarms: runtime.alarms,
      clock,
      log: log.child({ component: 'footage' }),
    });
    link.subscribe(topics.footageRequests(config.site, config.id), (payload, retained) =>
      this.footage.handle(payload, retained),
    );
  }

  /** Asks the central side for the newest credential set. */
  requestCredentials(): void {
    this.credentialSync.request();
  }

  close(): void {
    this.commands.close();
    this.credentialSync.close();
  }
}
