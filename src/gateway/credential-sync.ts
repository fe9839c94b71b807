import type { KeyObject } from 'node:crypto';
import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { openCredentialSet } from '../protocol/credential-set.js';
import type { EncryptionKeyPair } from '../protocol/ecies.js';
import type { EventBody } from '../protocol/event-kinds.js';
import type { CredentialCache } from './credential-cache.js';
import { RefusalBudget } from './refusal-budget.js';

/**
 * Receives the credential set the central side publishes for this gateway: decrypts it with the
 * gateway's key, checks the central signature and that the version is newer, and replaces the
 * (encrypted) local cache in one step. A set that fails a check is refused with an alarm and the
 * cache stays as it was.
 */
export interface CredentialSyncOptions {
  site: string;
  gateway: string;
  centralKey: KeyObject | undefined;
  keys: EncryptionKeyPair;
  cache: CredentialCache;
  clock: Clock;
  alarms: AlarmBook;
  record(event: EventBody): void;
  /** After a set was applied: the gateway re-checks its health, so a stale-credentials alarm clears at once. */
  applied?: () => void;
  log: Logger;
}

export class CredentialSync {
  /** Refused sets are alarmed one by one up to a bound per minute (RefusalBudget). */
  private readonly refusals: RefusalBudget;

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

  /** Reports the refusals still counted (before the outbox closes). */
  close(): void {
    this.refusals.close();
  }

  receive(payload: Buffer): void {
    const { centralKey, keys, cache, site, gateway, log, alarms, clock } = this.options;
    if (payload.length === 0) return; // a cleared retained message
    if (!centralKey) {
      log.warn('credential set refused: no central key configured (central.publicKey)');
      return;
    }
    const opened = openCredentialSet(payload, keys, centralKey, { site, gateway });
    if (!opened.ok) {
      if (!this.refusals.admit()) return;
      log.error({ reason: opened.reason }, 'credential set refused');
      alarms.notify({
        alarm: 'credentials-rejected',
        key: `credentials-rejected:${clock.now()}`,
        severity: 'critical',
        detail: opened.reason.slice(0, 500),
      });
      return;
    }
    const { body } = opened;
    if (body.version <= cache.version) {
      log.debug({ version: body.version, current: cache.version }, 'credential set not newer; ignored');
      return;
    }
    // The central side's time of issue, never later than now: the offline horizon counts from it.
    const syncedAt = Math.min(Date.parse(body.issuedAt), clock.now());
    const revokedFirst = [...body.credentials].sort(
      (a, b) => Number(a.status === 'active') - Number(b.status === 'active'),
    );
    try {
      cache.replace(revokedFirst, syncedAt, body.version);
    } catch (error) {
      log.error({ err: error }, 'credential set refused');
      alarms.notify({
        alarm: 'credentials-rejected',
        key: `credentials-rejected:${clock.now()}`,
        severity: 'critical',
        detail: (error as Error).message.slice(0, 500),
      });
      return;
    }
    log.info({ version: body.version, credentials: body.credentials.length }, 'credential set applied');
    this.options.record({
      kind: 'credentials.updated',
      data: { version: body.version, credentials: body.credentials.length },
    });
    this.options.applied?.();
  }

  /** Asks the central side for the current set (at start, and on a sync command). */
  request(): void {
    this.options.record({ kind: 'credentials.requested', data: { version: this.options.cache.version } });
  }
}
