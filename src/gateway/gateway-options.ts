import type { GatewayConfig } from '../config/gateway-config.js';
import type { DoorFeedback } from '../controllers/door-ports.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Envelope } from '../protocol/envelope.js';
import type { ClockProbe } from './clock-sync-monitor.js';
import type { DeviceContext } from './devices/device-factory.js';
import type { OutboxJournalOptions } from './outbox/outbox-journal.js';

/**
 * What a Gateway is built with, and what its bus carries (door feedback for `identgate sim`, each
 * event's way from recorded to durable to acknowledged).
 */

export interface GatewayBusEvents extends Record<string, unknown> {
  feedback: DoorFeedback;
  /** An event was signed and written to the outbox. */
  recorded: Envelope;
  /** The event is on disk in the outbox: it survives a crash from now on. */
  durable: Envelope;
  /** The broker acknowledged the event with this sequence number. */
  acked: number;
}

export interface GatewayOptions {
  config: GatewayConfig;
  log: Logger;
  clock?: Clock;
  mqttPassword?: string;
  /** The state key (base64) sealing identity and credential cache; default a key file in stateDir. */
  credentialKey?: string;
  /** Earlier state keys that still open files (a rotation); files are re-sealed under the current one. */
  credentialKeyDecryptOnly?: string[];
  version?: string;
  /** Replaces the configured clock-sync source (tests). */
  clockProbe?: ClockProbe;
  deviceContext?: Omit<DeviceContext, 'log'>;
  /** The outbox's file access and retry timing (tests put a disk that refuses writes here). */
  outboxDisk?: Pick<OutboxJournalOptions, 'openFile' | 'retryMs' | 'maxWaitingBytes'>;
}
