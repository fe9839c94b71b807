import type { GatewayConfig } from '../config/gateway-config.js';
import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { topics } from '../protocol/topics.js';
import type { CredentialCache } from './credential-cache.js';
import type { RuntimeDoor } from './door-runtime.js';
import type { GatewayLink } from './gateway-link.js';
import type { OutboxJournal } from './outbox/outbox-journal.js';
import { checkOutboxPressure } from './outbox-alarms.js';

/**
 * How the running gateway reports on itself, apart from the doors' events: the outbox's pressure
 * checked every 10 s (its filling alarm), a heartbeat event on a timer (uptime, unsent events,
 * credential set version), and each door's lock and contact retained on its state topic.
 */

export interface StatusReportOptions {
  journal: OutboxJournal;
  alarms: AlarmBook;
  credentials: CredentialCache;
  clock: Clock;
  heartbeatMs: number;
  record(body: EventBody): void;
}

/** Starts the outbox pressure check (at once, then every 10 s) and the heartbeat; returns their stop. */
export function startStatusReports(options: StatusReportOptions): () => void {
  const { journal, alarms, credentials, clock } = options;
  const checkPressure = () => checkOutboxPressure(alarms, journal.pressure());
  checkPressure();
  const pressureTimer = setInterval(checkPressure, 10_000);
  pressureTimer.unref();
  const startedAt = clock.now();
  const heartbeatTimer = setInterval(() => {
    options.record({
      kind: 'gateway.heartbeat',
      data: {
        uptimeS: Math.floor((clock.now() - startedAt) / 1000),
        outboxPending: journal.size.records,
        credentialsVersion: credentials.version,
      },
    });
  }, options.heartbeatMs);
  heartbeatTimer.unref();
  return () => {
    clearInterval(pressureTimer);
    clearInterval(heartbeatTimer);
  };
}

/**
 * A door's lock and contact now, retained on its state topic for whoever subscribes later: what
 * the relay carries (not what it was told) and `unknown` for a contact that cannot be read.
 */
export function publishRetainedDoorState(
  link: GatewayLink,
  config: GatewayConfig,
  doorId: string,
  door: RuntimeDoor,
  clock: Clock,
): void {
  const open = door.devices.contact.isOpen();
  const state = {
    door: doorId,
    lock: door.devices.lock.state,
    contact: open === undefined ? 'unknown' : open ? 'open' : 'closed',
    time: new Date(clock.now()).toISOString(),
  };
  link.publishRetained(topics.doorState(config.site, config.id, doorId), JSON.stringify(state));
}
