import { createHash } from 'node:crypto';
import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { openCredentialSet } from '../protocol/credential-set.js';
import type { EncryptionKeyPair } from '../protocol/ecies.js';
import type { EventBody } from '../protocol/event-kinds.js';
import type { CentralKeys } from '../protocol/signing.js';
import type { CredentialCache } from './credential-cache.js';
import { RefusalBudget } from './refusal-budget.js';

/**
 * Receives the credential set the central side publishes for this gateway: decrypts it with the
 * gateway's key, checks the central signature and that the version is newer, and replaces the
 * (encrypted) local cache in one step. A set that fails a check is refused with an alarm and the
 * cache stays as it was. A set older than the one in use (the central numbering went back: a
 * database restored from a backup) is refused too, alarmed, and answered with a request that
 * tells the central side the version in use, so that its next set is numbered above it.
 */
export interface CredentialSyncOptions {
  site: string;
  gateway: string;
  /** The central key that signs credential sets; during a rotation of it, the old and the new one. */
  centralKey: CentralKeys | undefined;
  keys: EncryptionKeyPair;
  cache: CredentialCache;
  clock: Clock;
  alarms: AlarmBook;
  record(event: EventBody): void;
  /** After a set was applied: the gateway re-checks its health, so a stale-credentials alarm clears at once. */
  applied?: () => void;
  log: Logger;
}

const UNSAVED_KEY = 'credentials-unsaved';
const EMPTY_KEY = 'credentials-empty';
/** After sets older than the one in use, the gateway asks for a newer one at most this often. */
const BEHIND_REQUEST_INTERVAL_MS = 60_000;

export class CredentialSync {
  /** Refused sets are alarmed one by one up to a bound per minute (RefusalBudget). */
  private readonly refusals: RefusalBudget;
  /** SHA-256 of the last payload opened: the same bytes again are not opened again. */
  private lastDigest = '';
  /**
   * The last request for a newer set after an older one: when, and the version then in use. One
   * a minute at most while that version stays in use, so that a central side that answers with
   * older sets again does not keep both sides busy.
   */
  private behindRequest = { at: Number.NEGATIVE_INFINITY, version: 0 };

  constructor(private readonly options: CredentialSyncOptions) {
    this.refusals = new RefusalBudget(options.clock, options.log, 'credentials', (detail) =>
      options.alarms.notify({
        alarm: 'credentials-rejected',
        key: `credentials-rejected:${options.clock.now()}`,
        severity: 'critical',
        detail,
      }),
    );
  }

  /**
   * At start, the credential conditions the alarm book carried over from the last run are checked
   * against the set loaded: one in use but unsaved is gone (the start went back to the saved set),
   * and the empty-set warning holds while the set loaded has no active credential, and is raised
   * again then (an alarm file lost or from before an update had not carried it over). One left
   * open at the central side and not carried over is closed there by the gateway's report.
   */
  started(): void {
    const { cache, alarms } = this.options;
    const { version } = cache;
    alarms.endCarriedOver(
      UNSAVED_KEY,
      version > 0 ? `the restart went back to the saved set ${version}` : 'the restart found no saved set',
    );
    const active = [...cache.all()].filter((c) => c.status === 'active').length;
    if (version > 0 && active === 0) this.alarmEmpty(version, []);
    else
      alarms.endCarriedOver(
        EMPTY_KEY,
        version > 0
          ? `credential set ${version} has ${active} active credentials`
          : 'no credential set in use',
      );
  }

  /** Reports the refusals still counted (before the outbox closes). */
  close(): void {
    this.refusals.close();
  }

  receive(payload: Buffer): void {
    const { centralKey, keys, cache, site, gateway, log, clock } = this.options;
    if (payload.length === 0) return; // a cleared retained message
    if (!centralKey) {
      log.warn('credential set refused: no central key configured (central.publicKey)');
      // A condition of the configuration: raised once, as commands do.
      this.options.alarms.raise({
        alarm: 'credentials-rejected',
        key: 'credentials-no-central-key',
        severity: 'warning',
        detail: 'no central key is configured (central.publicKey): credential sets cannot be verified',
      });
      return;
    }
    // The same bytes again (the retained set at a reconnect, a repeat): opening a large set holds
    // the doors' thread up for most of a second, and the answer would be the same.
    const digest = createHash('sha256').update(payload).digest('hex');
    if (digest === this.lastDigest) {
      log.debug('credential set seen before; ignored');
      return;
    }
    this.lastDigest = digest;
    const opened = openCredentialSet(payload, keys, centralKey, { site, gateway });
    if (!opened.ok) {
      this.refuse(opened.reason);
      return;
    }
    const { body } = opened;
    const newest = cache.newestVersion;
    if (body.version < newest) {
      this.behind(`version ${body.version} is older than version ${newest} applied here`);
      return;
    }
    if (body.version === cache.version) {
      // The same set again (a restart had forgotten its bytes), or another under the same number.
      if (cache.issuedAt === undefined || cache.issuedAt === body.issuedAt) {
        log.debug({ version: body.version }, 'credential set in use already; ignored');
        return;
      }
      this.behind(
        `version ${body.version} is the version in use, but of another set (issued ${body.issuedAt}, the one in use ${cache.issuedAt})`,
      );
      return;
    }
    // The central side's time of issue, never later than now: the offline horizon counts from it.
    const syncedAt = Math.min(Date.parse(body.issuedAt), clock.now());
    const revokedFirst = [...body.credentials].sort(
      (a, b) => Number(a.status === 'active') - Number(b.status === 'active'),
    );
    let unsaved: Error | undefined;
    try {
      unsaved = cache.replace(revokedFirst, syncedAt, body.version, body.issuedAt);
    } catch (error) {
      this.refuse((error as Error).message);
      return;
    }
    log.info({ version: body.version, credentials: body.credentials.length }, 'credential set applied');
    if (cache.versionUnsaved)
      log.warn(
        { err: cache.versionUnsaved, version: body.version },
        'credentials.version could not be written: a set older than this one is refused only while the saved set can be read',
      );
    this.options.record({
      kind: 'credentials.updated',
      data: { version: body.version, credentials: body.credentials.length },
    });
    this.alarmUnsaved(body.version, unsaved);
    this.alarmEmpty(body.version, body.credentials);
    this.options.applied?.();
  }

  /**
   * A set numbered no higher than the newest applied here: refused, and answered with a request
   * naming that version, so that the central side numbers its next set above it.
   */
  private behind(what: string): void {
    const { cache, clock } = this.options;
    const newest = cache.newestVersion;
    this.refuse(`${what}: the central numbering went back (a restored database?); asked for a newer set`);
    const last = this.behindRequest;
    if (last.version !== newest || clock.now() - last.at >= BEHIND_REQUEST_INTERVAL_MS) {
      this.behindRequest = { at: clock.now(), version: newest };
      this.request();
    }
  }

  private refuse(reason: string): void {
    const { log, alarms, clock } = this.options;
    if (!this.refusals.admit()) return;
    log.error({ reason }, 'credential set refused');
    alarms.notify({
      alarm: 'credentials-rejected',
      key: `credentials-rejected:${clock.now()}`,
      severity: 'critical',
      detail: reason.slice(0, 500),
    });
  }

  /**
   * A set in use but not saved (a full disk): a restart would go back to the set saved before.
   * Cleared by the next set that is saved (the central side sends one at least hourly).
   */
  private alarmUnsaved(version: number, error: Error | undefined): void {
    const { log, alarms } = this.options;
    if (!error) {
      alarms.clear(UNSAVED_KEY, `credential set ${version} saved`);
      return;
    }
    log.error({ err: error, version }, 'credential set in use but not saved');
    alarms.raise({
      alarm: 'credentials-unsaved',
      key: UNSAVED_KEY,
      severity: 'critical',
      detail:
        `credential set ${version} is in use but could not be saved (${error.message}); a restart before the next set is saved goes back to the set saved before`.slice(
          0,
          500,
        ),
    });
  }

  /** A set without one active credential refuses every badge: right after an error, seldom meant. */
  private alarmEmpty(version: number, credentials: ReadonlyArray<{ status: string }>): void {
    const { alarms } = this.options;
    const active = credentials.filter((c) => c.status === 'active').length;
    if (active > 0) {
      alarms.clear(EMPTY_KEY, `credential set ${version} has ${active} active credentials`);
      return;
    }
    alarms.raise({
      alarm: 'credentials-empty',
      key: EMPTY_KEY,
      severity: 'warning',
      detail: `credential set ${version} has no active credential: every badge is refused`,
    });
  }

  /** Asks the central side for the current set (at start, and on a sync command). */
  request(): void {
    this.options.record({
      kind: 'credentials.requested',
      data: { version: this.options.cache.newestVersion },
    });
  }
}
