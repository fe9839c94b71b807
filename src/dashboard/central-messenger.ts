import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Pool } from 'pg';
import type { Clock } from '../lib/clock.js';
import { CodedError, hasCode } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';
import { type CommandBody, signCommand } from '../protocol/commands.js';
import { type SyncedCredential, sealCredentialSet } from '../protocol/credential-set.js';
import type { Envelope } from '../protocol/envelope.js';
import type { EventData } from '../protocol/event-kinds.js';
import { topics } from '../protocol/topics.js';
import { Uuidv7Generator } from '../protocol/uuidv7.js';
import { connectCentralMqtt } from './central-mqtt.js';
import type { AlarmStore, AlarmView } from './storage/alarm-store.js';
import { inTransaction } from './storage/database.js';
import type { GatewayRegistry } from './storage/gateway-registry.js';
import type { PeopleStore } from './storage/people-store.js';

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
  /** For the alarm raised when a set cannot be sealed (too large for a gateway). */
  alarms?: AlarmStore;
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

export type CommandResult =
  | EventData<'command.result'>
  | { command: string; kind: string; status: 'timeout'; reason: string };

/** The central alarm of a gateway whose credential set is too large to publish. */
export const TOO_LARGE_KEY = 'credentials-too-large';
const PUBLISH_TIMEOUT_MS = 30_000;
const STOP_WAIT_MS = 5_000;

/** A site's credential publishes: the one running, and the one waiting for it (see publishCredentials). */
interface SiteQueue {
  running?: Promise<number>;
  /** `gateways` undefined: every gateway of the site. */
  waiting?: { gateways: Set<string> | undefined; done: Promise<number> };
}

export class CentralMessenger {
  private client: MqttClient | undefined;
  private readonly ids: Uuidv7Generator;
  /** Commands awaiting their result, by id, with the gateway that must answer. */
  private readonly pending = new Map<
    string,
    { site: string; gateway: string; resolve: (result: CommandResult) => void }
  >();
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The last credential publish started for each site (see publishCredentials). */
  private readonly publishing = new Map<string, SiteQueue>();
  /** Rejects each credential publish waiting for the broker (see stop). */
  private readonly waitingForBroker = new Set<(error: Error) => void>();
  private stopping = false;
  /**
   * Sites whose sets are published again after a late acknowledgement, and whether another late
   * one came while that publish ran (one more publish follows it then).
   */
  private readonly repairs = new Map<string, boolean>();

  constructor(private readonly options: CentralMessengerOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
  }

  async start(): Promise<void> {
    const { log } = this.options;
    const client = await connectCentralMqtt(this.options, 'central messenger', log);
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
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    // A publish waiting for the broker holds the site's lock and a pool connection: it ends now,
    // and what waits behind it does not start (publishCredentialsNow).
    const stopped = new CodedError('IDG_MESSENGER_STOPPED', 'the central messenger is stopping');
    for (const reject of this.waitingForBroker) reject(stopped);
    await Promise.allSettled(
      [...this.publishing.values()].flatMap((queue) => [queue.running, queue.waiting?.done]),
    );
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

  /** Signs and sends a command; resolves with the gateway's result, or a timeout. */
  async sendCommand(
    site: string,
    gateway: string,
    body: CommandBody,
    timeoutMs = 15_000,
  ): Promise<CommandResult> {
    const key = this.requireKey();
    const command = signCommand(
      body,
      { site, gateway },
      this.ids.next(),
      this.options.clock.now(),
      60_000,
      key,
    );
    const result = new Promise<CommandResult>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(command.id);
        resolve({
          command: command.id,
          kind: command.kind,
          status: 'timeout',
          reason: `no answer within ${timeoutMs} ms`,
        });
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
    await this.requireClient().publishAsync(topics.commands(site, gateway), JSON.stringify(command), {
      qos: 1,
      retain: false,
    });
    this.options.log.info({ site, gateway, command: command.id, kind: command.kind }, 'command sent');
    return result;
  }

  /** Publishes a message signed elsewhere (workstation lock commands): QoS 1, never retained. */
  async publishSigned(topic: string, payload: string): Promise<void> {
    await this.requireClient().publishAsync(topic, payload, { qos: 1, retain: false });
  }

  /**
   * Publishes the current credential set to every gateway of `site` (or one gateway). One publish
   * per site at a time in this instance: each holds a pool connection while it waits for the
   * site's lock, and a burst of requests (every gateway of a site reconnecting) would otherwise
   * take the pool from the ingest.
   */
  publishCredentials(site: string, gatewayId?: string): Promise<number> {
    const queue = this.publishing.get(site) ?? {};
    this.publishing.set(site, queue);
    // One waits while one runs; a request that comes meanwhile joins the one waiting, which has
    // not read the credentials yet and so publishes the change that request is for. A burst of
    // requests (every gateway of a site reconnecting, a script erasing hundreds of people, notices
    // from other instances) costs two publishes, not one each.
    if (queue.waiting) {
      if (gatewayId === undefined) queue.waiting.gateways = undefined;
      else queue.waiting.gateways?.add(gatewayId);
      return queue.waiting.done;
    }
    const waiting: NonNullable<SiteQueue['waiting']> = {
      gateways: gatewayId === undefined ? undefined : new Set([gatewayId]),
      done: Promise.resolve(0),
    };
    waiting.done = (queue.running ?? Promise.resolve(0))
      .catch(() => 0)
      .then(() => {
        queue.running = waiting.done;
        queue.waiting = undefined;
        return this.publishCredentialsNow(site, waiting.gateways);
      });
    queue.waiting = waiting;
    const settled = () => {
      if (queue.running === waiting.done) queue.running = undefined;
      if (!queue.running && !queue.waiting && this.publishing.get(site) === queue)
        this.publishing.delete(site);
    };
    waiting.done.then(settled, settled);
    return waiting.done;
  }

  /**
   * Reads, numbers, records and publishes the sets of the site's gateways (or of one) while
   * holding the site's lock, across instances, until the broker has acknowledged each: versions
   * then follow the reads (a set read before a revocation never gets the higher version), and
   * sets reach the broker in the order of their versions, so the one it keeps (retained) is the
   * newest. Earlier versions released the lock before publishing; another instance's older set
   * could then arrive last and stay retained.
   *
   * A publish that fails (the broker did not acknowledge it in time, or the connection is down)
   * ends the site's publish: the sets acknowledged before it are recorded, the rest go out at the
   * next sync or refresh, and the error is passed on.
   */
  private async publishCredentialsNow(site: string, only: ReadonlySet<string> | undefined): Promise<number> {
    if (this.stopping) throw new CodedError('IDG_MESSENGER_STOPPED', 'the central messenger is stopping');
    const key = this.requireKey();
    const { registry, people, pool, log } = this.options;
    const targets = registry.ofSite(site).filter((g) => only === undefined || only.has(g.id));
    for (const target of targets)
      if (!target.encryptionKey)
        log.warn(
          { site, gateway: target.id },
          'gateway has no encryption key registered; its credentials cannot be synced',
        );
    const sealable = targets.filter((g) => g.encryptionKey);
    if (sealable.length === 0) return 0;
    let failure: unknown;
    const cleared: AlarmView[] = [];
    const published = await inTransaction(pool, log, async (client) => {
      await client.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('identgate-credentials:' || $1, 0))`,
        [site],
      );
      const credentials = await people.credentialsForSite(site, client);
      const done: string[] = [];
      for (const target of sealable) {
        const next = await client.query<{ v: string }>(`SELECT nextval('credential_set_version') AS v`);
        const version = Number(next.rows[0]?.v);
        const payload = await this.sealOrAlarm(
          site,
          target.id,
          version,
          credentials,
          key,
          target.encryptionKey as KeyObject,
        );
        if (!payload) continue;
        try {
          await this.publishAcknowledged(site, topics.credentials(site, target.id), payload);
        } catch (error) {
          failure = error;
          break;
        }
        await client.query(
          `INSERT INTO credential_sets (site, gateway, version, credentials) VALUES ($1, $2, $3, $4)
           ON CONFLICT (site, gateway) DO UPDATE SET version = EXCLUDED.version, credentials = EXCLUDED.credentials, published_at = now()`,
          [site, target.id, version, credentials.length],
        );
        log.info(
          { site, gateway: target.id, version, credentials: credentials.length },
          'credential set published',
        );
        done.push(target.id);
      }
      // Only for sets the broker has, and under the site's lock: cleared after it, the clear
      // could undo the alarm of a newer set, too large, that another instance raised meanwhile.
      // Last, so that the alarm's chain lock is held only until the commit.
      for (const gateway of done)
        cleared.push(
          ...((await this.options.alarms?.clearCentral(TOO_LARGE_KEY, site, gateway, client)) ?? []),
        );
      return done;
    });
    if (cleared.length > 0) this.options.alarmsChanged?.(cleared);
    if (failure) throw failure;
    return published.length;
  }

  /**
   * Publishes a credential set (retained) and resolves on the broker's acknowledgement, within
   * the publish timeout. Not queued while the connection is down: a set queued in the client
   * would go out after the site's lock is released, maybe after a newer one. The set goes out
   * at the next sync or hourly refresh instead.
   *
   * One that timed out stays in the client's store and may still reach the broker, after the lock
   * is released and so maybe after a newer set of another instance: once the broker acknowledges
   * it, the site's sets are published again, so that the newest is the one retained.
   */
  private async publishAcknowledged(site: string, topic: string, payload: Buffer): Promise<void> {
    const client = this.requireClient();
    if (!client.connected)
      throw new CodedError(
        'IDG_MQTT_DISCONNECTED',
        'not connected to the broker: credential set not published',
      );
    const timeoutMs = this.options.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
    const publish = client.publishAsync(topic, payload, { qos: 1, retain: true });
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let rejectWait: ((error: Error) => void) | undefined;
    try {
      await Promise.race([
        publish,
        new Promise((_, reject) => {
          rejectWait = reject;
          this.waitingForBroker.add(reject);
          timer = setTimeout(() => {
            timedOut = true;
            reject(
              new CodedError(
                'IDG_MQTT_TIMEOUT',
                `the broker did not acknowledge a credential set within ${timeoutMs / 1000} s`,
              ),
            );
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (rejectWait) this.waitingForBroker.delete(rejectWait);
      publish.then(
        () => {
          if (!timedOut || this.stopping) return;
          this.options.log.warn(
            { site, topic },
            "the broker acknowledged a credential set late; the site's sets are published again, so that the newest stays retained",
          );
          this.repair(site);
        },
        () => undefined, // never reached the broker (the client was ended): nothing to repair
      );
    }
  }

  /**
   * Publishes a site's sets again after a late acknowledgement. Late acknowledgements come in
   * bursts when a broker recovers: one publish at a time per site, and one more after it for
   * all that came while it ran (it may have reached the broker before them).
   */
  private repair(site: string): void {
    if (this.repairs.has(site)) {
      this.repairs.set(site, true);
      return;
    }
    this.repairs.set(site, false);
    this.publishCredentials(site)
      .catch((error: Error) =>
        this.options.log.error({ err: error, site }, 'credential sets not published again'),
      )
      .finally(() => {
        const again = this.repairs.get(site);
        this.repairs.delete(site);
        if (again && !this.stopping) this.repair(site);
      });
  }

  /**
   * The sealed set, or undefined when it is too large for a gateway: a critical alarm then says
   * that the gateway keeps its last set (revocations included do not reach it), cleared once a
   * set for it is published again.
   */
  private async sealOrAlarm(
    site: string,
    gateway: string,
    version: number,
    credentials: SyncedCredential[],
    key: KeyObject,
    gatewayKey: KeyObject,
  ): Promise<Buffer | undefined> {
    const { clock, log, alarms } = this.options;
    try {
      return sealCredentialSet(
        { v: 1, site, gateway, version, issuedAt: new Date(clock.now()).toISOString(), credentials },
        key,
        gatewayKey,
      );
    } catch (error) {
      if (!hasCode(error, 'IDG_CREDENTIALS_TOO_LARGE')) throw error;
      log.error({ err: error, site, gateway }, 'credential set not published: too large for a gateway');
      // Not for a gateway retired meanwhile: nothing would ever clear it (a condition alarm).
      if (alarms && !(await this.options.registry.retirement(site, gateway)))
        await this.reportAlarms(() =>
          alarms.raiseCentral({
            alarm: 'credentials-unpublished',
            key: TOO_LARGE_KEY,
            severity: 'critical',
            site,
            gateway,
            detail:
              `${(error as Error).message}: the gateway keeps its last set, and changes since (revocations too) do not reach it`.slice(
                0,
                500,
              ),
          }),
        );
      return undefined;
    }
  }

  /** Raises or clears the credential set alarm and shows the change; a failure is logged. */
  private async reportAlarms(change: () => Promise<AlarmView[]> | undefined): Promise<void> {
    try {
      const changed = (await change()) ?? [];
      if (changed.length > 0) this.options.alarmsChanged?.(changed);
    } catch (error) {
      this.options.log.error({ err: error }, 'could not raise or clear the credential set alarm');
    }
  }

  /** Every site's sets; one site that fails does not keep the others from theirs. */
  async publishAllCredentials(): Promise<void> {
    if (!this.options.signingKey) return;
    for (const site of new Set(this.options.registry.all().map((g) => g.site))) {
      try {
        await this.publishCredentials(site);
      } catch (error) {
        this.options.log.error({ err: error, site }, 'credential sets of a site not published');
      }
    }
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

  /** Reacts to the gateway events this instance stored: credential requests (once, here). */
  onEvents(events: readonly Envelope[]): void {
    for (const event of events) {
      if (event.kind === 'credentials.requested' && this.options.signingKey) {
        this.publishCredentials(event.site, event.gateway).catch((error: Error) =>
          this.options.log.error(
            { err: error, gateway: event.gateway },
            'credential publish after a request failed',
          ),
        );
      }
    }
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
