import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { TimerHandle } from '../lib/clock.js';
import { CodedError, hasCode } from '../lib/coded-error.js';
import { type SyncedCredential, sealCredentialSet } from '../protocol/credential-set.js';
import { topics } from '../protocol/topics.js';
import type { CentralMessengerOptions } from './central-messenger.js';
import type { AlarmStore, AlarmView } from './storage/alarm-store.js';
import { inTransaction } from './storage/database.js';

/** What the publisher takes of the messenger's options, and its key and broker connection. */
export type CredentialPublisherOptions = Pick<
  CentralMessengerOptions,
  | 'signingKey'
  | 'registry'
  | 'people'
  | 'pool'
  | 'clock'
  | 'log'
  | 'alarms'
  | 'alarmsChanged'
  | 'publishTimeoutMs'
> & {
  requireKey: () => KeyObject;
  requireClient: () => MqttClient;
};

/** A site's lock, across instances, held from reading its credentials until the broker has its sets. */
export const SITE_LOCK_SQL = `SELECT pg_advisory_xact_lock(hashtextextended('identgate-credentials:' || $1, 0))`;
/** The central alarm of a gateway whose credential set is too large to publish. */
export const TOO_LARGE_KEY = 'credentials-too-large';
const PUBLISH_TIMEOUT_MS = 30_000;
/**
 * The highest version a gateway's request may move the numbering to: far beyond any real count,
 * and well within the integers a JavaScript number holds exactly.
 */
const MAX_REPORTED_VERSION = 2 ** 50;
/**
 * How far beyond the highest set recorded a gateway's request may move the numbering: the sets
 * published between a backup and its restore (one per gateway per publish: 1,000 gateways
 * refreshed hourly for over a year).
 */
const MAX_NUMBERING_JUMP = 10_000_000;

/** A site's credential publishes: the one running, and the one waiting for it. */
interface SiteQueue {
  running?: Promise<number>;
  /** `gateways` undefined: every gateway of the site. */
  waiting?: { gateways: Set<string> | undefined; done: Promise<number> };
}

function stoppedError(): CodedError {
  return new CodedError('IDG_MESSENGER_STOPPED', 'the central messenger is stopping');
}

/**
 * Each gateway's credential set, signed with the central key, encrypted to the gateway and
 * published retained (see publishCredentialsNow for the order guarantees). Part of the central
 * messenger, which owns the broker connection and the signing key.
 */
export class CredentialPublisher {
  /** Each site's credential publishes: the one running and the one waiting (see publishCredentials). */
  private readonly publishing = new Map<string, SiteQueue>();
  /** Rejects each credential publish waiting for the broker (see stop). */
  private readonly waitingForBroker = new Set<(error: Error) => void>();
  private stopping = false;
  /**
   * Sites whose sets are published again after a late acknowledgement, and whether another late
   * one came while that publish ran (one more publish follows it then).
   */
  private readonly repairs = new Map<string, boolean>();

  constructor(private readonly options: CredentialPublisherOptions) {}

  /**
   * Ends the publishes: one waiting for the broker holds the site's lock and a pool connection,
   * and ends now; what waits behind it does not start. Resolves once every site's queue is done.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const reject of this.waitingForBroker) reject(stoppedError());
    await Promise.allSettled(
      [...this.publishing.values()].flatMap((queue) => [queue.running, queue.waiting?.done]),
    );
  }

  /**
   * A gateway's request names the version of the set it uses. After a database restored from a
   * backup the numbering lies below it, and the gateway refuses every set as older: the numbering
   * moves above it first. Two instances doing this at once while a third numbers sets could at
   * worst give one set a number used before; the gateway then refuses it (another set under the
   * version in use) and asks again.
   */
  async numberAbove(version: number): Promise<void> {
    if (!Number.isSafeInteger(version) || version < 1) return;
    if (version > MAX_REPORTED_VERSION) {
      this.options.log.warn(
        { version },
        'a gateway reports a credential set version beyond any issued; ignored',
      );
      return;
    }
    // A gateway's signed word, but a gateway can be compromised: the numbering moves at most
    // MAX_NUMBERING_JUMP beyond the sets recorded, so one gateway cannot push it where a later
    // restore could no longer be repaired this way.
    const recorded = await this.options.pool.query<{ n: string }>(
      'SELECT coalesce(max(version), 0) AS n FROM credential_sets',
    );
    if (version > Number(recorded.rows[0]?.n ?? 0) + MAX_NUMBERING_JUMP) {
      this.options.log.error(
        { version, recorded: Number(recorded.rows[0]?.n ?? 0) },
        'a gateway reports a credential set version far beyond every set recorded; the numbering is not moved (see docs/data-protection.md, restore)',
      );
      return;
    }
    const moved = await this.options.pool.query(
      // A sequence never used holds last_value 1 with is_called false: its next number is 1.
      `SELECT setval('credential_set_version', $1::bigint) FROM credential_set_version
        WHERE last_value < $1::bigint OR (last_value = $1::bigint AND NOT is_called)`,
      [version],
    );
    if ((moved.rowCount ?? 0) > 0)
      this.options.log.warn(
        { version },
        'credential set numbering moved above the version a gateway uses (was the database restored?)',
      );
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
   * ends the site's publish: the sets acknowledged before it are recorded, the rest go out when
   * the broker connection comes back, after a late acknowledgement (see repair), at the next
   * request, or at the hourly refresh; the error is passed on.
   */
  private async publishCredentialsNow(site: string, only: ReadonlySet<string> | undefined): Promise<number> {
    if (this.stopping) throw stoppedError();
    const key = this.options.requireKey();
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
      await client.query(SITE_LOCK_SQL, [site]);
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
      // Last, so that the alarm rows stay locked only until the commit.
      // A clear that fails is logged: it must not undo the records of sets the broker has.
      const alarms = this.options.alarms;
      for (const gateway of alarms ? done : []) {
        await client.query('SAVEPOINT clear_too_large');
        try {
          cleared.push(...(await (alarms as AlarmStore).clearCentral(TOO_LARGE_KEY, site, gateway, client)));
          await client.query('RELEASE SAVEPOINT clear_too_large');
        } catch (error) {
          await client.query('ROLLBACK TO SAVEPOINT clear_too_large');
          log.error({ err: error, site, gateway }, 'could not clear the credential set alarm');
        }
      }
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
   * when the connection comes back instead (see CentralMessenger.start), or at the next request
   * or hourly refresh.
   *
   * One that timed out stays in the client's store and may still reach the broker, after the lock
   * is released and so maybe after a newer set of another instance: once the broker acknowledges
   * it, the site's sets are published again, so that the newest is the one retained.
   */
  private async publishAcknowledged(site: string, topic: string, payload: Buffer): Promise<void> {
    if (this.stopping) throw stoppedError();
    const client = this.options.requireClient();
    if (!client.connected)
      throw new CodedError(
        'IDG_MQTT_DISCONNECTED',
        'not connected to the broker: credential set not published',
      );
    const timeoutMs = this.options.publishTimeoutMs ?? PUBLISH_TIMEOUT_MS;
    const publish = client.publishAsync(topic, payload, { qos: 1, retain: true });
    let timer: TimerHandle | undefined;
    let timedOut = false;
    let rejectWait: ((error: Error) => void) | undefined;
    try {
      await Promise.race([
        publish,
        new Promise((_, reject) => {
          rejectWait = reject;
          this.waitingForBroker.add(reject);
          timer = this.options.clock.setTimeout(() => {
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
      timer?.cancel();
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
        await this.raiseAlarm(() =>
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

  /** Raises the too-large alarm and shows the change; a failure is logged. */
  private async raiseAlarm(change: () => Promise<AlarmView[]>): Promise<void> {
    try {
      const changed = await change();
      if (changed.length > 0) this.options.alarmsChanged?.(changed);
    } catch (error) {
      this.options.log.error({ err: error }, 'could not raise the credential set alarm');
    }
  }

  /** Every site's sets; one site that fails does not keep the others from theirs. */
  async publishAllCredentials(): Promise<void> {
    if (!this.options.signingKey) return;
    for (const site of new Set(this.options.registry.all().map((g) => g.site))) {
      if (this.stopping) return;
      try {
        await this.publishCredentials(site);
      } catch (error) {
        this.options.log.error({ err: error, site }, 'credential sets of a site not published');
      }
    }
  }
}
