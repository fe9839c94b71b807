import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  generate,
  type IConnackPacket,
  type IPublishPacket,
  type ISubackPacket,
  type IUnsubackPacket,
  type Packet,
  parser as packetParser,
} from 'mqtt-packet';
import type { TimerHandle } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import { AckWriter } from './mqtt-ack-writer.js';
import { MqttErrorCode } from './mqtt-errors.js';
import {
  connectPacket,
  readConnack,
  readSuback,
  type SubscribeRequest,
  staleFilters,
  subscribeRequest,
} from './mqtt-handshake.js';
import { KeepaliveWatch } from './mqtt-keepalive.js';
import type { MqttMessage } from './mqtt-message.js';
import { PublishReceiver } from './mqtt-publish-receiver.js';
import { type ProtocolVersion, reasonName } from './mqtt-reason-codes.js';
import type { ResolvedOptions } from './mqtt-subscriber-options.js';

export type EndReason =
  | 'stopped'
  | 'socket-error'
  | 'closed-before-connack'
  | 'unsupported-version'
  | 'connect-refused'
  | 'connect-timeout'
  | 'subscribe-refused'
  | 'keepalive-timeout'
  | 'broker-disconnect'
  | 'socket-closed'
  | 'protocol-error';

export interface ConnectionEnd {
  reason: EndReason;
  error: CodedError | undefined;
  /** CONNACK, SUBACK or DISCONNECT reason code, when the broker gave one. */
  reasonCode: number | undefined;
  wasReady: boolean;
  /** Clock time when the subscription was in place; undefined if it never was. */
  readyAt: number | undefined;
}

export interface ReadyInfo {
  protocolVersion: ProtocolVersion;
  sessionPresent: boolean;
  /** The filters the broker granted, `$share/…` when the shared subscription is active. */
  filters: string[];
  shared: boolean;
  /** A shared subscription was asked for and the broker does not support it. */
  sharedRefused: boolean;
}

export interface ConnectionHooks {
  ready(info: ReadyInfo): void;
  message(message: MqttMessage): void;
}

type State = 'connecting' | 'awaiting-connack' | 'subscribing' | 'ready' | 'closing' | 'closed';

const CLOSE_GRACE_MS = 2000;

/**
 * One network connection to the broker, from socket to close: CONNECT, SUBSCRIBE, keep-alive,
 * delivery and in-order acks. It never reconnects; `closed` resolves once with why it ended and
 * the subscriber decides what to do next.
 */
export class MqttConnection {
  readonly closed: Promise<ConnectionEnd>;
  private resolveClosed: (end: ConnectionEnd) => void = () => {};
  private state: State = 'connecting';
  private cause: Omit<ConnectionEnd, 'wasReady' | 'readyAt'> | undefined;
  private readonly socket: Socket;
  private readonly acks: AckWriter;
  private readonly publishes: PublishReceiver;
  private readonly deadline: TimerHandle;
  private keepalive: KeepaliveWatch | undefined;
  private readyAt: number | undefined;
  private sessionPresent = false;
  private subscribing: SubscribeRequest = { messageId: 0, filters: [], shared: false };
  /** The granted subscription, and the id of the UNSUBSCRIBE of stale filters under way. */
  private granted: { filters: string[]; shared: boolean } | undefined;
  private unsubscribing: number | undefined;
  private sharedRefused = false;

  constructor(
    private readonly options: ResolvedOptions,
    readonly version: ProtocolVersion,
    /** A shared subscription is configured and not known to be refused by this broker. */
    private readonly wantShared: boolean,
    private readonly hooks: ConnectionHooks,
    /** This connection's place among its subscriber's connections (1, 2, …), on every message. */
    readonly serial: number,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    const { host, port, tls, display } = options.target;
    const parser = packetParser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => this.onPacket(packet));
    parser.on('error', (error: Error) =>
      this.fail('protocol-error', MqttErrorCode.protocol, `${display} sent malformed data: ${error.message}`),
    );
    this.socket = tls
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...tls })
      : netConnect({ host, port });
    this.socket.setNoDelay(true);
    this.acks = new AckWriter(this.socket, version);
    this.publishes = new PublishReceiver(this.acks, options, version, serial);
    this.socket.once(tls ? 'secureConnect' : 'connect', () => this.onTransportUp());
    this.socket.on('data', (chunk: Buffer) => {
      if (this.state === 'closing' || this.state === 'closed') return;
      this.keepalive?.heard();
      try {
        parser.parse(chunk);
      } catch (error) {
        this.fail('protocol-error', MqttErrorCode.protocol, `handling data from ${display} failed`, error);
      }
    });
    this.socket.on('error', (error) => {
      const reason = this.state === 'awaiting-connack' ? 'closed-before-connack' : 'socket-error';
      this.fail(reason, MqttErrorCode.socket, `${display}: ${error.message}`, error);
    });
    this.socket.on('close', () => this.onClose());
    this.deadline = options.clock.setTimeout(() => {
      if (this.state === 'subscribing' && this.unsubscribing !== undefined) {
        // Subscribed; only the clean-up of stale filters went unanswered: not a reason to wait on.
        options.log.warn('the broker did not answer the UNSUBSCRIBE of stale filters; going on');
        this.becomeReady();
        return;
      }
      this.fail(
        'connect-timeout',
        MqttErrorCode.connectTimeout,
        `${display}: not subscribed within ${options.connectTimeoutMs} ms of connecting`,
      );
    }, options.connectTimeoutMs);
  }

  /** Graceful end: DISCONNECT, then close. Unacknowledged messages stay with the broker. */
  close(): Promise<ConnectionEnd> {
    if (this.state === 'closing' || this.state === 'closed') return this.closed;
    // Acks given before stop() still go out, ahead of the DISCONNECT.
    this.acks.flush();
    const transportUp = this.state !== 'connecting';
    this.stopWith({ reason: 'stopped', error: undefined, reasonCode: undefined });
    if (transportUp) this.endWithDisconnect(0);
    else this.socket.destroy();
    return this.closed;
  }

  private onTransportUp(): void {
    if (this.state !== 'connecting') return;
    this.state = 'awaiting-connack';
    this.send(connectPacket(this.options, this.version));
  }

  private onPacket(packet: Packet): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'awaiting-connack' && packet.cmd !== 'connack') {
      this.fail('protocol-error', MqttErrorCode.protocol, `broker sent ${packet.cmd} before CONNACK`);
      return;
    }
    switch (packet.cmd) {
      case 'connack':
        this.onConnack(packet);
        return;
      case 'publish':
        this.onPublish(packet);
        return;
      case 'suback':
        this.onSuback(packet);
        return;
      case 'unsuback':
        this.onUnsuback(packet);
        return;
      case 'pubrel':
        // Second half of a QoS 2 exchange; our PUBREC went out with the application's ack.
        this.acks.complete(packet.messageId ?? 0);
        return;
      case 'pingresp':
        return;
      case 'disconnect': {
        const code = packet.reasonCode ?? 0;
        const detail = packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : '';
        this.fail(
          'broker-disconnect',
          MqttErrorCode.brokerDisconnect,
          `broker ended the session: ${code === 0 ? 'normal disconnection' : reasonName(code, 5)}${detail}`,
          undefined,
          code,
        );
        return;
      }
      default:
        this.fail('protocol-error', MqttErrorCode.protocol, `broker sent an unexpected ${packet.cmd} packet`);
    }
  }

  private onConnack(packet: IConnackPacket): void {
    if (this.state !== 'awaiting-connack') {
      this.fail('protocol-error', MqttErrorCode.protocol, 'broker sent a second CONNACK');
      return;
    }
    const connack = readConnack(packet, this.version);
    if (connack.kind === 'refused') {
      const message = `${this.options.target.display} refused the MQTT ${this.version === 5 ? '5' : '3.1.1'} connection: ${connack.description}`;
      this.fail(connack.reason, MqttErrorCode.connectRefused, message, undefined, connack.code);
      return;
    }
    if (connack.kind === 'malformed') {
      this.fail('protocol-error', MqttErrorCode.protocol, connack.detail);
      return;
    }
    const { properties } = connack;
    this.sessionPresent = packet.sessionPresent;
    if (properties.maximumQoS === 0)
      this.options.log.warn('broker allows QoS 0 only: messages can be lost on the way to this subscriber');
    const keepaliveSeconds = properties.serverKeepAlive ?? this.options.keepaliveSeconds;
    this.keepalive = new KeepaliveWatch(
      this.options.clock,
      keepaliveSeconds * 1000,
      () => this.send({ cmd: 'pingreq' }),
      () =>
        this.fail(
          'keepalive-timeout',
          MqttErrorCode.keepaliveTimeout,
          `${this.options.target.display} did not answer within ${keepaliveSeconds * 1.5} s (keep-alive)`,
        ),
    );
    this.keepalive.start();
    this.state = 'subscribing';
    let shared = this.wantShared;
    if (shared && this.version === 4) {
      // Shared subscriptions are an MQTT 5 feature; some 3.1.1 brokers take `$share/` as a literal topic.
      this.options.log.warn(
        { group: this.options.sharedGroup },
        'MQTT 3.1.1: subscribing to the plain topics',
      );
      shared = false;
    } else if (shared && properties.sharedSubscriptionAvailable === false) {
      this.refuseShared('CONNACK says shared subscriptions are unavailable');
      shared = false;
    }
    this.subscribe(subscribeRequest(this.options.topics, shared ? this.options.sharedGroup : undefined, 1));
  }

  private subscribe(request: SubscribeRequest): void {
    this.subscribing = request;
    const subscriptions = request.filters.map((topic) => ({ topic, qos: 1 as const }));
    this.send({ cmd: 'subscribe', messageId: request.messageId, subscriptions });
  }

  private onSuback(packet: ISubackPacket): void {
    if (this.state !== 'subscribing' || packet.messageId !== this.subscribing.messageId) {
      this.fail('protocol-error', MqttErrorCode.protocol, `unexpected SUBACK (id ${packet.messageId})`);
      return;
    }
    const outcome = readSuback(this.subscribing, packet.granted as unknown[], this.version);
    if (outcome.kind === 'shared-refused') {
      this.refuseShared('SUBACK refused the shared subscription');
      this.subscribe(subscribeRequest(this.options.topics, undefined, this.subscribing.messageId + 1));
      return;
    }
    if (outcome.kind === 'refused') {
      const message = `broker refused the subscription: ${outcome.detail}`;
      this.fail('subscribe-refused', MqttErrorCode.subscribeRefused, message, undefined, outcome.code);
      return;
    }
    if (outcome.qos0.length > 0)
      this.options.log.warn(
        { filters: outcome.qos0 },
        'broker granted QoS 0: messages can be lost on the way to us',
      );
    this.granted = outcome;
    const { topics, retiredTopics, sharedGroup } = this.options;
    const stale = this.sessionPresent
      ? staleFilters(topics, retiredTopics, sharedGroup, outcome.filters)
      : [];
    if (stale.length > 0) {
      // Ready once they are gone: until then the session may deliver a message once per filter.
      this.unsubscribing = this.subscribing.messageId + 1;
      this.send({ cmd: 'unsubscribe', messageId: this.unsubscribing, unsubscriptions: stale });
      return;
    }
    this.becomeReady();
  }

  private onUnsuback(packet: IUnsubackPacket): void {
    // Answered after the connect deadline made the connection ready: nothing more to do.
    if (this.state === 'ready' && packet.messageId === this.unsubscribing) return;
    if (this.state !== 'subscribing' || packet.messageId !== this.unsubscribing) {
      this.fail('protocol-error', MqttErrorCode.protocol, `unexpected UNSUBACK (id ${packet.messageId})`);
      return;
    }
    // 0x00 removed, 0x11 there was none; anything else leaves a stale filter in the session.
    const codes = ((packet as { granted?: unknown }).granted ?? []) as unknown[];
    const refused = codes.filter((code) => code !== 0 && code !== 0x11);
    if (refused.length > 0)
      this.options.log.warn(
        { codes: refused },
        'the broker refused to remove stale filters: messages may come twice, or for sites no longer ingested here',
      );
    this.becomeReady();
  }

  private becomeReady(): void {
    const outcome = this.granted ?? { filters: [], shared: false };
    this.state = 'ready';
    this.deadline.cancel();
    this.readyAt = this.options.clock.now();
    const { filters, shared } = outcome;
    const info = { protocolVersion: this.version, sessionPresent: this.sessionPresent, filters, shared };
    this.hooks.ready({ ...info, sharedRefused: this.sharedRefused });
  }

  private refuseShared(why: string): void {
    this.sharedRefused = true;
    this.options.log.warn(
      { group: this.options.sharedGroup },
      `${why}; subscribing to the plain topics, so every subscriber gets every message`,
    );
  }

  private onPublish(packet: IPublishPacket): void {
    const intake = this.publishes.receive(packet);
    if (intake.kind === 'protocol-error') this.fail('protocol-error', MqttErrorCode.protocol, intake.message);
    else if (intake.kind === 'deliver') this.hooks.message(intake.message);
  }

  private send(packet: Packet): void {
    try {
      this.socket.write(generate(packet, { protocolVersion: this.version }));
    } catch (error) {
      this.fail('protocol-error', MqttErrorCode.protocol, `could not encode ${packet.cmd}`, error);
    }
  }

  /** Records the first reason the connection ends, and ends it. */
  private fail(reason: EndReason, code: string, message: string, cause?: unknown, reasonCode?: number): void {
    if (this.state === 'closed') return;
    const error = new CodedError(code, message, cause === undefined ? undefined : { cause });
    this.stopWith({ reason, error, reasonCode });
    this.socket.destroy();
  }

  /** Records the first reason the connection ends; nothing is read, acked or pinged after it. */
  private stopWith(cause: Omit<ConnectionEnd, 'wasReady' | 'readyAt'>): void {
    this.cause ??= cause;
    this.state = 'closing';
    this.keepalive?.stop();
    this.acks.close();
  }

  /** DISCONNECT, then close once the broker has closed its side, or after a grace period. */
  private endWithDisconnect(reasonCode: number): void {
    this.socket.end(generate({ cmd: 'disconnect', reasonCode }, { protocolVersion: this.version }));
    const guard = this.options.clock.setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    void this.closed.then(() => guard.cancel());
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    const previous = this.state;
    this.state = 'closed';
    this.keepalive?.stop();
    this.acks.close();
    this.deadline.cancel();
    const message = `${this.options.target.display} closed the connection`;
    const cause = this.cause ?? {
      reason: previous === 'awaiting-connack' ? 'closed-before-connack' : 'socket-closed',
      error: new CodedError(
        MqttErrorCode.brokerDisconnect,
        `${message}${previous === 'awaiting-connack' ? ' before CONNACK' : ''}`,
      ),
      reasonCode: undefined,
    };
    this.resolveClosed({ ...cause, wasReady: this.readyAt !== undefined, readyAt: this.readyAt });
  }

  /** Messages delivered on this connection and not yet released to the broker. */
  get unacknowledged(): number {
    return this.acks.pending;
  }
}
