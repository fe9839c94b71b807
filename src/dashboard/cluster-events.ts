import pg from 'pg';
import type { Logger } from '../lib/logger.js';
import {
  ALARMS_CHANNEL,
  alarmNotices,
  CREDENTIALS_CHANNEL,
  GATEWAYS_CHANNEL,
  isSiteNotice,
  readAlarmNotice,
  readStoredNotice,
  STORED_CHANNEL,
  WORKSTATIONS_CHANNEL,
} from './cluster-channels.js';
import type { AlarmView } from './http/schemas.js';
import type { LiveHub } from './live-hub.js';
import type { AlarmStore } from './storage/alarm-store.js';
import type { EventStore, StoredEvent } from './storage/event-store.js';

/** How many ingest numbers are remembered as delivered. */
const REMEMBERED = 200_000;
/** How many own transactions' events are held while their notices are on the way. */
const OWN_HELD = 200;

export interface ClusterEventsOptions {
  /** Where a connection of its own is opened for LISTEN (the pool's own connections are shared). */
  connectionString: string;
  /**
   * This instance's name in the notices. Its own event notices publish what its pipeline handed
   * over (`stored()`); its own alarm notices are skipped.
   */
  instance: string;
  /**
   * This instance's live hub: every stored event is published into it, in ingest order, whichever
   * instance stored it; the alarm changes this instance makes come from it, and those other
   * instances made are published into it; so is whether this instance hears them (`hearing`).
   */
  local: LiveHub;
  events: EventStore;
  alarms: AlarmStore;
  /** For announcing alarm changes. */
  pool: pg.Pool;
  log: Logger;
  /**
   * After the listening connection was lost, the rows read again below the highest number
   * published when it was lost.
   */
  catchUpMargin?: number;
  /** First and longest wait before connecting again. */
  reconnectMs?: { first: number; longest: number };
  /**
   * Given this instance's own events as each of its transactions commits, while the listening
   * connection is down (see `committed()`): presence, so that a badge-out stored here still locks
   * the workstation at once. The live hub gets them later, in order, from the catch-up.
   */
  ownWhileNotHearing?: (events: readonly StoredEvent[]) => void;
  /**
   * A gateway was retired, or one may have been while the listening connection was down: this
   * instance forgets what it trusted that is retired now (GatewayRegistry.dropRetired).
   */
  gatewaysRetired?: () => Promise<void>;
  /**
   * A site's credentials changed outside a dashboard (CREDENTIALS_CHANNEL); undefined: any site's
   * may have, while the listening connection was down.
   */
  credentialsChanged?: (site: string | undefined) => void;
  /** A workstation was (or, while not listening, may have been) registered: presence re-reads it. */
  workstationsChanged?: () => void;
}

/**
 * Every stored event, once and in ingest order, whichever dashboard instance stored it, published
 * on this instance's live hub. With several instances sharing the ingest (an MQTT shared
 * subscription), each stores only part of the events, while the live streams and what is kept in
 * memory — presence, which answers workstation logins — must see all of them: a badge-out stored
 * by another instance must end the presence here too.
 *
 * Each ingest transaction announces the range of ingest numbers it stored with NOTIFY, which
 * PostgreSQL delivers at its commit, in commit order, to every listening session, this one's own
 * included. Ingest transactions take their numbers and commit one after the other across all
 * instances (migration 0016's lock), so commit order is ingest order, and the events are
 * published here in the order of the notices: an own notice publishes the events the pipeline
 * handed over (`stored()`), another instance's is read from the database. Each number is
 * published once, and never one below a number published before it, on which the live streams
 * rely (they send what is newer than what they sent, and resume by Last-Event-ID). When the
 * listening connection is lost nothing is published, this instance's own events included (they
 * go to `ownWhileNotHearing`, presence, as they commit), until it is open again and the rows from
 * `catchUpMargin` below the highest number published when it was lost have been read, so
 * transactions that committed meanwhile are not missed and come in order. Until then `hearing`
 * is false.
 *
 * Alarm changes go the other way too: every change published on this instance's hub (by the
 * ingest, the gap scanner or staff) is announced after it was made, and the other instances
 * publish the alarms as they now stand on their own hubs, for their live streams. That notice is
 * sent after the commit, so a process that dies in between leaves the others to show the change
 * at their pages' next reload of the open alarms; after a lost connection, the alarms changed
 * since a minute before it are published again.
 */
export class ClusterEvents {
  /** The events of this instance's own transactions, by notice, until the notice comes back. */
  private readonly own = new Map<string, readonly StoredEvent[]>();
  private readonly delivered = new Set<number>();
  private readonly order: number[] = [];
  private highest = 0;
  private client: pg.Client | undefined;
  /** A reconnect's listen() under way: stop() waits for it to close its connection. */
  private connecting: Promise<void> | undefined;
  private work: Promise<void> = Promise.resolve();
  private stopping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private waitMs: number;
  private unsubscribeLocal: (() => void) | undefined;
  /** While alarms heard from another instance are published here, they are not announced again. */
  private relaying = false;
  private lostAt: number | undefined;
  /** The highest number published when the connection was lost: where the catch-up starts. */
  private highestAtLoss: number | undefined;

  constructor(private readonly options: ClusterEventsOptions) {
    this.waitMs = options.reconnectMs?.first ?? 500;
  }

  /**
   * The events an own transaction stored, handed over before its commit; published when its
   * notice comes back, in order. While the listening connection is down no notice comes back, and
   * nothing is published: the catch-up after the reconnect reads those events from the database,
   * in ingest order with the other instances' events.
   */
  stored(notice: string, events: readonly StoredEvent[]): void {
    this.own.set(notice, events);
    // A long-lost connection must not hold memory: what is dropped here is read from the database
    // when its notice comes, or by the catch-up.
    if (this.own.size > OWN_HELD) this.own.delete(this.own.keys().next().value as string);
  }

  /**
   * The own transaction of that notice has committed. While the listening connection is down its
   * notice will not come back: its events go to `ownWhileNotHearing` now (presence), not to the
   * live hub, which gets them from the catch-up in order.
   */
  committed(notice: string): void {
    if (this.lostAt === undefined) return;
    const events = this.own.get(notice);
    if (events) this.options.ownWhileNotHearing?.(events);
  }

  /**
   * Whether this instance hears every instance's stored events and alarm changes now. While it
   * does not (its listening connection is down or was never opened, or what went unheard while it
   * was down is still being read), what is kept in memory may lack other instances' events:
   * presence then denies workstation logins (PresenceService) and `/healthz` answers 503.
   */
  get hearing(): boolean {
    return this.client !== undefined && this.lostAt === undefined;
  }

  /** When the listening connection was lost, until what went unheard meanwhile has been read. */
  get lostSince(): Date | undefined {
    return this.lostAt === undefined ? undefined : new Date(this.lostAt);
  }

  /** Opens the listening connection; fails when the database cannot be reached. */
  async start(): Promise<void> {
    this.unsubscribeLocal = this.options.local.subscribe({
      push: () => true,
      pushAlarms: (alarms) => {
        if (!this.relaying) this.announceAlarms(alarms);
        return true;
      },
      close: () => undefined,
    });
    await this.listen();
    // A retirement committed before the LISTEN (while this instance trusted its configuration's
    // gateways) sent its notice to nobody here.
    await this.gatewaysRetired();
    // Listening first, then reading where the events stand: a reconnect's catch-up starts near
    // here rather than at the first event ever stored.
    this.highest = Math.max(this.highest, await this.options.events.highestIngestNo());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.unsubscribeLocal?.();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.connecting?.catch(() => undefined);
    await this.work;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: 'identgate-dashboard-listen',
      connectionTimeoutMillis: 10_000,
    });
    client.on('notification', (message) => {
      if (message.channel === STORED_CHANNEL) this.notice(message.payload ?? '');
      else if (message.channel === ALARMS_CHANNEL) this.alarmNotice(message.payload ?? '');
      else if (message.channel === GATEWAYS_CHANNEL) this.enqueue(() => this.gatewaysRetired());
      else if (message.channel === CREDENTIALS_CHANNEL) this.credentialsNotice(message.payload ?? '');
      else if (message.channel === WORKSTATIONS_CHANNEL && !this.stopping)
        this.options.workstationsChanged?.();
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(
        `LISTEN ${STORED_CHANNEL}; LISTEN ${ALARMS_CHANNEL}; LISTEN ${GATEWAYS_CHANNEL}; LISTEN ${CREDENTIALS_CHANNEL}; LISTEN ${WORKSTATIONS_CHANNEL}`,
      );
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    // Stopped while connecting (a reconnect in flight): nobody would ever close this connection.
    if (this.stopping) {
      await client.end().catch(() => undefined);
      throw new Error('stopped while connecting');
    }
    this.client = client;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.stopping || this.client !== client) return;
    this.client = undefined;
    this.lostAt ??= Date.now();
    this.highestAtLoss ??= this.highest;
    this.options.local.publishHearing(false);
    client.end().catch(() => undefined);
    this.options.log.warn(
      { err: error },
      "security: lost the connection that hears stored events and alarm changes; other instances' events wait for it; reconnecting",
    );
    this.reconnect();
  }

  private reconnect(): void {
    if (this.stopping) return;
    this.retryTimer = setTimeout(() => {
      this.connecting = this.listen();
      this.connecting.then(
        () => {
          if (this.stopping) return;
          this.waitMs = this.options.reconnectMs?.first ?? 500;
          this.options.log.info('hearing stored events and alarm changes again; catching up');
          this.enqueue(() => this.catchUp());
        },
        (error: Error) => {
          if (this.stopping) return;
          this.options.log.warn(
            { err: error },
            'could not reconnect to hear stored events and alarm changes',
          );
          this.waitMs = Math.min(this.waitMs * 2, this.options.reconnectMs?.longest ?? 30_000);
          this.reconnect();
        },
      );
    }, this.waitMs);
    this.retryTimer.unref();
  }

  private notice(payload: string): void {
    if (this.stopping) return;
    const notice = readStoredNotice(payload);
    if (!notice) {
      this.options.log.warn(
        { payload: payload.slice(0, 200) },
        `security: malformed ${STORED_CHANNEL} notice ignored`,
      );
      return;
    }
    const own = notice.instance === this.options.instance ? this.own.get(payload) : undefined;
    if (own) {
      this.own.delete(payload);
      this.enqueue(async () => this.deliver(own));
    } else this.enqueue(() => this.readRange(notice.low, notice.high));
  }

  /** Reads one after the other, in the order the notices came (the commit order). */
  private enqueue(read: () => Promise<void>): void {
    if (this.stopping) return;
    this.work = this.work.then(read).catch((error: Error) => {
      this.options.log.error({ err: error }, 'could not read stored events or alarms announced by a notice');
      // What could not be read is read again after reconnecting, with the margin below.
      const client = this.client;
      if (client) this.lost(client, error);
    });
  }

  private credentialsNotice(site: string): void {
    if (this.stopping) return;
    if (!isSiteNotice(site)) {
      this.options.log.warn(
        { notice: site.slice(0, 100) },
        `security: malformed ${CREDENTIALS_CHANNEL} notice ignored`,
      );
      return;
    }
    this.options.credentialsChanged?.(site);
  }

  private async gatewaysRetired(): Promise<void> {
    if (this.stopping) return;
    await this.options.gatewaysRetired?.();
  }

  private async readRange(low: number, high: number): Promise<void> {
    this.deliver(await this.options.events.range(low, high));
  }

  /**
   * Reads what went unheard: alarms changed since a minute before the loss, and events from below
   * the highest number published when the connection was lost, this instance's own included.
   */
  private async catchUp(): Promise<void> {
    // Whatever still waits here for a notice that went unheard is read from the database below.
    this.own.clear();
    const client = this.client;
    const lostAt = this.lostAt ?? Date.now();
    await this.gatewaysRetired();
    // An erasure's notice may have gone unheard: every site's sets are published again.
    this.options.credentialsChanged?.(undefined);
    this.options.workstationsChanged?.();
    this.relay(await this.options.alarms.changedSince(new Date(lostAt - 60_000)));
    const margin = this.options.catchUpMargin ?? 10_000;
    let after = Math.max(0, (this.highestAtLoss ?? this.highest) - margin);
    for (;;) {
      const rows = await this.options.events.since(after, 5_000);
      this.deliver(rows, true);
      if (rows.length < 5_000) break;
      after = (rows.at(-1) as StoredEvent).ingestNo;
    }
    // Only now, and only when the connection held meanwhile: a catch-up that fails, or whose
    // connection was lost again, is made again after the next reconnect, from the same place.
    if (client && this.client === client) {
      this.lostAt = undefined;
      this.highestAtLoss = undefined;
      this.options.local.publishHearing(true);
    }
  }

  private announceAlarms(alarms: readonly AlarmView[]): void {
    const ids = [...new Set(alarms.map((a) => a.id))];
    for (const notice of alarmNotices(this.options.instance, ids)) {
      this.options.pool
        .query('SELECT pg_notify($1, $2)', [ALARMS_CHANNEL, notice])
        .catch((error: Error) =>
          this.options.log.warn(
            { err: error },
            'could not announce alarm changes to other dashboard instances',
          ),
        );
    }
  }

  private alarmNotice(payload: string): void {
    if (this.stopping) return;
    const notice = readAlarmNotice(payload);
    if (!notice) {
      this.options.log.warn(
        { payload: payload.slice(0, 200) },
        `security: malformed ${ALARMS_CHANNEL} notice ignored`,
      );
      return;
    }
    if (notice.instance === this.options.instance) return;
    this.enqueue(async () => this.relay(await this.options.alarms.byIds(notice.ids)));
  }

  /** Publishes alarms as they stand now on this instance's hub, without announcing them again. */
  private relay(alarms: readonly AlarmView[]): void {
    this.relaying = true;
    try {
      this.options.local.publishAlarms(alarms);
    } finally {
      this.relaying = false;
    }
  }

  /**
   * Publishes what was not published yet. While the connection is lost, only the catch-up does:
   * work queued before the loss (a notice's range read after another's read failed, an own
   * notice) would otherwise publish numbers above ones the catch-up has still to publish.
   */
  private deliver(events: readonly StoredEvent[], catchingUp = false): void {
    if (this.lostAt !== undefined && !catchingUp) return;
    const fresh = events.filter((e) => !this.delivered.has(e.ingestNo));
    if (fresh.length === 0) return;
    for (const { ingestNo } of fresh) {
      this.delivered.add(ingestNo);
      this.order.push(ingestNo);
      if (ingestNo > this.highest) this.highest = ingestNo;
    }
    if (this.order.length > REMEMBERED * 1.5) {
      for (const old of this.order.splice(0, this.order.length - REMEMBERED)) this.delivered.delete(old);
    }
    this.options.local.publish(fresh);
  }
}
