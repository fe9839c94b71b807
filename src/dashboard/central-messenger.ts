import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Pool } from 'pg';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { CodedError } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';
import { newReportSalt } from '../protocol/alarm-report.js';
import { type CommandBody, signCommand } from '../protocol/commands.js';
import type { Envelope } from '../protocol/envelope.js';
import type { EventData } from '../protocol/event-kinds.js';
import { topics } from '../protocol/topics.js';
import { Uuidv7Generator } from '../protocol/uuidv7.js';
import { connectCentralMqtt } from './central-mqtt.js';
import { CredentialPublisher } from './credential-publisher.js';
import type { AlarmStore, AlarmView } from './storage/alarm-store.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';
import type { PeopleStore } from './storage/people-store.js';
import { publishWithdrawable, type WithdrawablePublish } from './withdrawable-publish.js';

/**
 * What the central side sends to gateways: signed commands (never retained, answered by a
 * `command.result` event) and each gateway's credential set, signed and encrypted to that
 * gateway, retained so that a gateway that was away gets it when it reconnects.
 */
export interface CentralMessengerOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** For mqtts://: the TLS profile, trust anchors and client certificate (see mqttTlsOptions). */
  tls?: TlsClientOptions;
  signingKey: KeyObject | undefined;
  registry: GatewayRegistry;
  people: PeopleStore;
  pool: Pool;
  clock: Clock;
  log: Logger;
  /** Every gateway's set is published again this often, to keep its offline horizon fresh. */
  refreshMs?: number;
  /** How long a credential set's publish may wait for the broker, holding the site's lock (30 s). */
  publishTimeoutMs?: number;
  /** How long stop() waits for the broker to acknowledge what is still unacknowledged (5 s). */
  stopWaitMs?: number;
  /**
   * For the alarm raised when a set cannot be sealed (too large for a gateway), and the requests
   * for the gateways' reports of their alarm conditions.
   */
  alarms?: AlarmStore;
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

export type CommandResult =
  | EventData<'command.result'>
  | { command: string; kind: string; status: 'timeout'; reason: string };

/** How long stop() waits for the broker to acknowledge what is still unacknowledged. */
const STOP_WAIT_MS = 5_000;

export class CentralMessenger {
  private client: MqttClient | undefined;
  private readonly ids: Uuidv7Generator;
  /** Commands awaiting their result, by id, with the gateway that must answer. */
  private readonly pending = new Map<
    string,
    { site: string; gateway: string; resolve: (result: CommandResult) => void }
  >();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly credentials: CredentialPublisher;
  private stopping = false;
  /** Aborted by stop: a start still waiting for the broker ends. */
  private readonly starting = new AbortController();

  constructor(private readonly options: CentralMessengerOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
    this.credentials = new CredentialPublisher({
      ...options,
      requireKey: () => this.requireKey(),
      requireClient: () => this.requireClient(),
    });
  }

  async start(): Promise<void> {
    const { log } = this.options;
    const client = await connectCentralMqtt(this.options, 'central messenger', log, this.starting.signal);
    this.client = client;
    // Connected again (the first connection is made above): a publish that failed while the
    // broker was away (an erasure's, a revocation's) is made now, and a broker that lost its
    // retained sets gets them back.
    client.on('connect', () => {
      if (this.stopping) return;
      this.publishAllCredentials().catch((error: Error) =>
        log.error({ err: error }, 'credential sets not published after reconnecting'),
      );
    });
    if (!this.options.signingKey)
      log.warn('no central signing key configured: commands and credential sync are off');
    const refreshMs = this.options.refreshMs ?? 3_600_000;
    this.refreshTimer = setInterval(() => {
      this.publishAllCredentials().catch((error: Error) =>
        log.error({ err: error }, 'credential refresh failed'),
      );
    }, refreshMs);
    this.refreshTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.starting.abort();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.credentials.stop();
    for (const { resolve } of this.pending.values())
      resolve({ command: '', kind: '', status: 'timeout', reason: 'shutting down' });
    this.pending.clear();
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // What is still unacknowledged gets a bounded wait: a broker that is gone would keep a
    // graceful end waiting for ever, and the pool from being closed.
    const unacknowledged = () => Object.keys(client.outgoing).length > 0;
    if (unacknowledged())
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.stopWaitMs ?? STOP_WAIT_MS);
        client.once('outgoingEmpty', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    await client.endAsync(unacknowledged());
  }

  /** Whether commands can be signed (the central signing key is configured). */
  get canSign(): boolean {
    return this.options.signingKey !== undefined;
  }

  /**
   * Signs and sends a command; resolves with the gateway's result, or a timeout after `timeoutMs`
   * — also when the broker has not acknowledged it by then (it is away, or slow): the command is
   * then taken back, so that it cannot reach the gateway after its window, at a reconnect. `id`: one
   * drawn before (newCommandId), for a command whose answer must find something stored under it.
   */
  async sendCommand(
    site: string,
    gateway: string,
    body: CommandBody,
    timeoutMs = 15_000,
    id = this.ids.next(),
  ): Promise<CommandResult> {
    const key = this.requireKey();
    const client = this.requireClient();
    const command = signCommand(body, { site, gateway }, id, this.options.clock.now(), 60_000, key);
    let publish: WithdrawablePublish | undefined;
    let acknowledged = false;
    const result = new Promise<CommandResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(command.id);
        resolve({
          command: command.id,
          kind: command.kind,
          status: 'timeout',
          reason: acknowledged
            ? `no answer within ${timeoutMs} ms`
            : `the broker did not acknowledge it within ${timeoutMs} ms`,
        });
        // After the result: the race below settles with it, not with the withdrawal.
        publish?.withdraw();
      }, timeoutMs);
      timer.unref();
      this.pending.set(command.id, {
        site,
        gateway,
        resolve: (r) => {
          clearTimeout(timer);
          this.pending.delete(command.id);
          resolve(r);
        },
      });
    });
    publish = publishWithdrawable(client, topics.commands(site, gateway), JSON.stringify(command));
    // The result settles first when the broker does not acknowledge in time (or at a stop).
    const sent = await Promise.race([publish.acknowledged.then(() => true), result.then(() => false)]);
    if (sent) {
      acknowledged = true;
      this.options.log.info({ site, gateway, command: command.id, kind: command.kind }, 'command sent');
    }
    return result;
  }

  /** A command id for sendCommand, drawn before the command is sent. */
  newCommandId(): string {
    return this.ids.next();
  }

  /**
   * Publishes a message signed elsewhere (workstation lock commands): QoS 1, never retained.
   * Rejects when the broker has not acknowledged it within `timeoutMs` (a broker away), and then
   * takes it back, so that it does not go out later beside the next attempt.
   */
  async publishSigned(topic: string, payload: string, timeoutMs = 10_000): Promise<void> {
    const publish = publishWithdrawable(this.requireClient(), topic, payload);
    let timer: TimerHandle | undefined;
    try {
      await Promise.race([
        publish.acknowledged,
        new Promise<never>((_, reject) => {
          timer = this.options.clock.setTimeout(() => {
            // Rejected first: taking it back settles the publish too, with a less telling error.
            reject(
              new CodedError(
                'IDG_MQTT_TIMEOUT',
                `the broker did not acknowledge within ${timeoutMs / 1000} s`,
              ),
            );
            publish.withdraw();
          }, timeoutMs);
        }),
      ]);
    } finally {
      timer?.cancel();
    }
  }

  /**
   * Deletes the message the broker retains on `topic` (an empty retained message, QoS 1); waits
   * for the broker's acknowledgement at most as long as a credential set's publish.
   */
  async deleteRetained(topic: string): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs ?? 30_000;
    let timer: TimerHandle | undefined;
    try {
      await Promise.race([
        this.requireClient().publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true }),
        new Promise<never>((_, reject) => {
          timer = this.options.clock.setTimeout(
            () =>
              reject(
                new CodedError(
                  'IDG_MQTT_TIMEOUT',
                  `the broker did not acknowledge within ${timeoutMs / 1000} s`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      timer?.cancel();
    }
  }

  /** Whether the broker connection is up. */
  get connected(): boolean {
    return this.client?.connected === true;
  }

  /**
   * Publishes the current credential set to every gateway of `site` (or one gateway); requests
   * that come while one publish runs are merged (see CredentialPublisher).
   */
  publishCredentials(site: string, gatewayId?: string): Promise<number> {
    return this.credentials.publishCredentials(site, gatewayId);
  }

  /** Every site's sets; one site that fails does not keep the others from theirs. */
  publishAllCredentials(): Promise<void> {
    return this.credentials.publishAllCredentials();
  }

  /**
   * Command results among stored events, whichever dashboard instance stored them (the dashboard
   * feeds it every event its live hub gets): with a shared subscription the answer to a command
   * sent here is often stored by another instance.
   */
  onStored(events: ReadonlyArray<{ kind: string; site: string; gateway: string; data: unknown }>): void {
    for (const event of events) {
      if (event.kind !== 'command.result') continue;
      const result = event.data as CommandResult;
      // Only the addressed gateway answers a command: a result it decides on (a resend that
      // failed records events as lost) must not come from another gateway that learnt the id.
      const waiting = this.pending.get(result.command);
      if (waiting && waiting.site === event.site && waiting.gateway === event.gateway)
        waiting.resolve(result);
    }
  }

  /**
   * Reacts to the gateway events this instance stored (once, here): credential requests, and a
   * gateway's start, which is asked for its alarm conditions (requestAlarmReport).
   */
  onEvents(events: readonly Envelope[]): void {
    const started = new Set<string>();
    for (const event of events) {
      const gateway = `${event.site}/${event.gateway}`;
      if (event.kind === 'gateway.online' && !started.has(gateway)) {
        started.add(gateway);
        this.requestAlarmReport(event.site, event.gateway).catch((error: Error) =>
          this.options.log.error({ err: error, gateway }, 'could not ask a gateway for its alarm conditions'),
        );
      }
      if (event.kind === 'credentials.requested' && this.options.signingKey) {
        const inUse = (event.data as { version: number }).version;
        this.credentials
          .numberAbove(inUse)
          .then(() => this.publishCredentials(event.site, event.gateway))
          .catch((error: Error) =>
            this.options.log.error(
              { err: error, gateway: event.gateway },
              'credential publish after a request failed',
            ),
          );
      }
    }
  }

  /**
   * Asks a gateway that started for the alarm conditions it holds (`alarms.report`), with a fresh
   * key for their digests, stored before the command is sent. It answers once its alarm book has
   * settled (alarmSettleSeconds after its start), with an `alarm.conditions` event that closes the
   * conditions it no longer holds (AlarmStore). A gateway of an earlier version answers
   * `unknown-command`, raising nothing, and nothing is closed.
   */
  private async requestAlarmReport(site: string, gateway: string): Promise<void> {
    const reports = this.options.alarms?.reports;
    if (!reports || !this.options.signingKey) return;
    const id = this.newCommandId();
    const salt = newReportSalt();
    await reports.requested(id, site, gateway, salt);
    // The usual bound, as for every command. A refusal comes at once; the answer only after the
    // gateway's settle period, so a timeout is the usual outcome here, and says nothing.
    const result = await this.sendCommand(
      site,
      gateway,
      { kind: 'alarms.report', data: { salt } },
      undefined,
      id,
    );
    if (result.status === 'rejected' || result.status === 'failed')
      this.options.log.warn(
        { site, gateway, status: result.status, reason: result.reason },
        'the gateway does not report its alarm conditions: open ones it no longer holds stay open',
      );
  }

  private requireKey(): KeyObject {
    if (!this.options.signingKey) {
      throw new CodedError(
        'IDG_NO_CENTRAL_KEY',
        'keys.signing is not configured: the central side cannot sign commands or credentials',
      );
    }
    return this.options.signingKey;
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new CodedError('IDG_MESSENGER_STOPPED', 'the central messenger is not running');
    return this.client;
  }
}
