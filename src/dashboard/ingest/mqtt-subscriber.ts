import type { TimerHandle } from '../../lib/clock.js';
import { CodedError, toError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { Signal } from '../../lib/signal.js';
import { backoffDelay } from './mqtt-backoff.js';
import {
  type ConnectionEnd,
  type ConnectionHooks,
  type EndReason,
  MqttConnection,
} from './mqtt-connection.js';
import { MqttErrorCode } from './mqtt-errors.js';
import type { MqttMessage } from './mqtt-message.js';
import type { ProtocolVersion } from './mqtt-reason-codes.js';
import {
  type MqttSubscriberOptions,
  type ResolvedOptions,
  resolveOptions,
} from './mqtt-subscriber-options.js';

/** DISCONNECT reason code 0x8E: another connection with the same client id took the session. */
const SESSION_TAKEN_OVER = 0x8e;

export type { MqttMessage } from './mqtt-message.js';
export type { MqttSubscriberOptions } from './mqtt-subscriber-options.js';

export interface ConnectedEvent {
  protocolVersion: ProtocolVersion;
  sessionPresent: boolean;
  /** True when the subscription is `$share/<group>/…` (MQTT 5 with sharedGroup set). */
  shared: boolean;
  /** The topic filters in place, as sent to the broker. */
  filters: string[];
}

export interface DisconnectedEvent {
  reason: EndReason;
  error: Error | undefined;
  reasonCode: number | undefined;
  /** When the next attempt starts; undefined after stop(). */
  reconnectInMs: number | undefined;
}

/**
 * An MQTT subscriber whose application acknowledges messages itself, in any batch and at any
 * time: PUBACK goes out only on `message.ack()`. Unlike MQTT.js it keeps reading while acks are
 * pending, up to its Receive Maximum with MQTT 5 (a broker that sends more is warned about once and
 * served all the same: Mosquitto 2.0 miscounts after a reconnect)
 * or the broker's in-flight limit with 3.1.1, so a consumer can commit hundreds of messages per
 * database transaction and ack them afterwards.
 *
 * It reconnects by itself with capped exponential backoff. A persistent session (the default)
 * makes the broker redeliver every unacknowledged message, with dup set, after a reconnect.
 * Broker settings this relies on: docs/mqtt-subscriber.md.
 */
/** How long a connection on 3.1.1 chosen on a guess lasts before MQTT 5 is tried again. */
const V5_PROBE_MS = 10 * 60_000;

export class MqttSubscriber {
  /**
   * Every message, in arrival order. Ack each one eventually, rejected ones too: PUBACKs go out
   * in arrival order, so a message never acked holds back all later ones. A throwing listener
   * is logged and its message stays unacked.
   */
  readonly messages: Signal<MqttMessage>;
  readonly connected: Signal<ConnectedEvent>;
  readonly disconnected: Signal<DisconnectedEvent>;
  /** Every failure of a connection or attempt, as an IDG_MQTT_… CodedError. */
  readonly errors: Signal<Error>;

  private readonly options: ResolvedOptions;
  private readonly log: Logger;
  private connection: MqttConnection | undefined;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private waitTimer: TimerHandle | undefined;
  private probeTimer: TimerHandle | undefined;
  private attempt = 0;
  /** Connections opened so far; each message names the one that delivered it. */
  private connections = 0;
  /** The protocol version to try next, and whether it has been proven to work with this broker. */
  private version: ProtocolVersion;
  private versionProven: boolean;
  private guessedOld = false;
  /** A connection of this process was ready before: a persistent session exists at the broker. */
  private hadSession = false;
  private sharedRefused = false;

  constructor(options: MqttSubscriberOptions) {
    const resolved = resolveOptions(options);
    this.log = options.log.child({
      component: 'mqtt-subscriber',
      broker: resolved.target.display,
      clientId: options.clientId,
    });
    this.options = { ...resolved, log: this.log };
    this.messages = new Signal('mqtt.messages', this.log);
    this.connected = new Signal('mqtt.connected', this.log);
    this.disconnected = new Signal('mqtt.disconnected', this.log);
    this.errors = new Signal('mqtt.errors', this.log);
    this.version = this.options.protocol === 4 ? 4 : 5;
    this.versionProven = this.options.protocol !== 'auto';
  }

  /** Starts connecting in the background; watch `connected` and `errors`. */
  start(): void {
    if (this.loop || this.stopping) return;
    this.loop = this.run().catch((error: unknown) => {
      // Not expected: every failure of a connection ends in `closed`. Logged, never thrown at the host.
      this.log.error({ err: error }, 'MQTT subscriber stopped working');
      this.errors.emit(toError(error));
    });
  }

  /**
   * Sends DISCONNECT and resolves once the socket is closed. Idempotent. Acks still pending are
   * dropped; the broker redelivers those messages to the next session.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.waitTimer?.cancel();
      this.probeTimer?.cancel();
      this.wakeUp?.();
      await this.connection?.close();
      await this.loop;
    })();
    return this.stopping;
  }

  /** The protocol version of the current or last connection attempt. */
  get protocolVersion(): ProtocolVersion {
    return this.version;
  }

  /** Messages delivered on the current connection whose PUBACK has not gone out yet. */
  get unacknowledged(): number {
    return this.connection?.unacknowledged ?? 0;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const end = await this.connectOnce();
      this.probeTimer?.cancel();
      this.connection = undefined;
      const delay = this.stopping ? undefined : this.nextDelay(end);
      this.report(end, delay);
      if (delay === undefined) break;
      await this.wait(delay);
    }
  }

  /** One connection from socket to close; resolves with why it ended. */
  private connectOnce(): Promise<ConnectionEnd> {
    const hooks: ConnectionHooks = {
      ready: (info) => {
        if (info.sharedRefused) this.sharedRefused = true;
        this.versionProven = true;
        const { protocolVersion, sessionPresent, shared, filters } = info;
        this.log.info({ protocolVersion, sessionPresent, shared, filters }, 'connected and subscribed');
        if (this.hadSession && !sessionPresent && !this.options.clean)
          // What the broker held for this subscriber while it was away is gone with its session;
          // the gap scanner asks the gateways for the events it misses.
          this.log.warn(
            { clientId: this.options.clientId },
            'the broker kept no session for this subscriber: messages it held for it are gone',
          );
        this.hadSession = true;
        if (this.guessedOld) {
          // 3.1.1 on a guess, without shared subscriptions: MQTT 5 is tried again in a while,
          // rather than only when this connection happens to end (on a stable broker, weeks).
          const connection = this.connection;
          this.probeTimer = this.options.clock.setTimeout(() => void connection?.close(), V5_PROBE_MS);
        }
        this.connected.emit({ protocolVersion, sessionPresent, shared, filters });
      },
      message: (message) => this.messages.emit(message),
    };
    const wantShared = this.options.sharedGroup !== undefined && !this.sharedRefused;
    try {
      this.connections += 1;
      this.connection = new MqttConnection(this.options, this.version, wantShared, hooks, this.connections);
    } catch (error) {
      // net/tls.connect throw synchronously on unusable options (e.g. an unknown TLS version).
      const message = `could not open a connection to ${this.options.target.display}: ${toError(error).message}`;
      const failure = new CodedError(MqttErrorCode.socket, message, { cause: error });
      return Promise.resolve({
        reason: 'socket-error',
        error: failure,
        reasonCode: undefined,
        wasReady: false,
        readyAt: undefined,
      });
    }
    return this.connection.closed;
  }

  /** Chooses the next protocol version and the pause before the next attempt. */
  private nextDelay(end: ConnectionEnd): number {
    const { clock, backoff } = this.options;
    if (this.options.protocol === 'auto' && this.version === 5) {
      const refused = end.reason === 'unsupported-version';
      const maybeRefused = end.reason === 'closed-before-connack' && !this.versionProven;
      if (refused || maybeRefused) {
        this.log.warn({ reason: end.reason }, 'broker did not take MQTT 5; trying MQTT 3.1.1');
        this.version = 4;
        this.versionProven = false;
        this.guessedOld = !refused;
        return 0;
      }
    } else if (this.options.protocol === 'auto' && this.guessedOld) {
      // 3.1.1 because a connection closed before CONNACK, which a restarting broker does too:
      // MQTT 5 is tried first again on the next connection, so that one transient failure does
      // not keep this process off shared subscriptions for good.
      this.version = 5;
      this.versionProven = false;
      this.guessedOld = false;
    } else if (
      this.options.protocol === 'auto' &&
      !this.versionProven &&
      end.reason === 'closed-before-connack'
    ) {
      // 3.1.1 was only a guess and fared no better: the broker is more likely down than old.
      this.version = 5;
    }
    // A connection that stayed up for a while resets the backoff; one that keeps dropping
    // right after connecting (e.g. a second subscriber with our client id) does not.
    if (end.readyAt !== undefined && clock.now() - end.readyAt >= backoff.maxMs) this.attempt = 0;
    const delay = backoffDelay(this.attempt, backoff);
    this.attempt += 1;
    return delay;
  }

  private report(end: ConnectionEnd, reconnectInMs: number | undefined): void {
    const fields = { reason: end.reason, reasonCode: end.reasonCode, reconnectInMs };
    if (end.error && end.reason !== 'stopped') {
      this.log.warn({ ...fields, err: end.error }, 'MQTT connection ended');
      this.errors.emit(end.error);
    }
    if (end.reasonCode === SESSION_TAKEN_OVER) {
      // Two clients with one id take the session from each other in turn: each dashboard
      // instance needs an id of its own (or someone else holds this one's credentials).
      this.log.error(
        { ...fields, clientId: this.options.clientId },
        'security: another MQTT client connected with this client id and took over the session; give each dashboard instance its own mqtt.clientId',
      );
    }
    if (end.wasReady) {
      this.disconnected.emit({ ...fields, error: end.error });
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.waitTimer = this.options.clock.setTimeout(resolve, ms);
    });
  }
}
