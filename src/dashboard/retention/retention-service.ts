import type { Pool } from 'pg';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { RetentionConfig } from '../../config/dashboard-config.js';
import { explainErrors, pointerToKeyPath } from '../../config/explain.js';
import { DATA_CLASS_NAMES, DATA_CLASSES, type DataClass } from '../../controllers/retention/data-classes.js';
import type { PolicyRule } from '../../controllers/retention/policy-book.js';
import type { Clock } from '../../lib/clock.js';
import { CodedError, hasCode, toError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { writeAudit } from '../audit/audit-log.js';
import { AlarmStore, type AlarmView } from '../storage/alarm-store.js';
import type { StorageMode } from '../storage/migrator.js';
import { withTransaction } from '../storage/transaction.js';
import { readDeletions } from './deletion-log.js';
import type { ExpiringStore } from './expiring-store.js';
import { partitionSqlFor } from './partition-sql.js';
import {
  type ErasureKeys,
  type ErasureOptions,
  type ErasureReport,
  PersonErasure,
} from './person-erasure.js';
import { RetentionAlarms } from './retention-alarms.js';
import { RetentionErrorCode } from './retention-errors.js';
import { runRetention } from './retention-run.js';
import {
  type DeletionLogRow,
  type LegalHold,
  NewLegalHold,
  PolicyInput,
  type PolicyOverview,
  PolicyRef,
  type RetentionReport,
  type StoredPolicy,
} from './retention-schemas.js';
import { RetentionStore } from './retention-store.js';
import { refreshAfterDeletion } from './statistics.js';
import { TombstoneExpiry } from './tombstone-expiry.js';

/**
 * What the HTTP layer, the CLI and the retention job call: policies, legal holds, runs, the
 * deletion log and erasure of a person. Every change is written to audit_log with its actor in
 * the same transaction. Input is validated here against the same schemas the HTTP routes use.
 * Authorisation (administrators only) is the caller's part.
 */
export interface RetentionServiceOptions extends ErasureKeys {
  pool: Pool;
  clock: Clock;
  log: Logger;
  settings: RetentionConfig;
  /** Hears of the retention alarms a run raises or clears (the live page). */
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

export class RetentionService {
  private readonly store: RetentionStore;
  private readonly erasure: PersonErasure;
  private readonly alarms: RetentionAlarms;
  private readonly registered = new Map<DataClass, ExpiringStore>();
  private mode: StorageMode | undefined;
  private halted = false;

  constructor(private readonly options: RetentionServiceOptions) {
    this.store = new RetentionStore(options.pool);
    this.erasure = new PersonErasure(options.pool, options.clock, {
      signingKey: options.signingKey,
      masterKeys: options.masterKeys,
      ...(options.retiredKeys ? { retiredKeys: options.retiredKeys } : {}),
    });
    // The erasure's own tombstones: they go once no event of the erased person can be stored.
    this.register(new TombstoneExpiry(options.pool, options.clock, options.settings.defaultDays));
    this.alarms = new RetentionAlarms(new AlarmStore(options.pool), options.log, options.alarmsChanged);
  }

  /** Lets a later feature's store (exports, presence) take part in every run. */
  register(store: ExpiringStore): void {
    if (this.registered.has(store.dataClass)) {
      throw new CodedError(
        RetentionErrorCode.invalid,
        `a store for ${store.dataClass} is registered already`,
      );
    }
    this.registered.set(store.dataClass, store);
  }

  async policies(): Promise<PolicyOverview> {
    return {
      defaultDays: this.options.settings.defaultDays,
      classes: DATA_CLASS_NAMES.map((dataClass) => ({
        dataClass,
        description: DATA_CLASSES[dataClass].description,
        scopes: [...DATA_CLASSES[dataClass].scopes],
        active: DATA_CLASSES[dataClass].deleter === 'built-in' || this.registered.has(dataClass),
      })),
      policies: await this.store.policies(),
    };
  }

  async setPolicy(input: PolicyInput, actor: string): Promise<StoredPolicy> {
    const { days, ...ref } = validate<PolicyInput>(PolicyInput, input, 'policy');
    const rule = await this.checkedRule(ref);
    return withTransaction(this.options.pool, async (db) => {
      const { policy, previousDays } = await this.store.putPolicy(db, { ...rule, days }, actor, this.now());
      await writeAudit(
        db,
        {
          actor,
          action: 'retention.policy.set',
          target: policyTarget(rule),
          details: { days, previousDays },
        },
        this.now(),
      );
      return policy;
    });
  }

  /** Removes a policy so that the next wider scope applies; false when there was none. */
  async removePolicy(ref: PolicyRef, actor: string): Promise<boolean> {
    const rule = await this.checkedRule(validate<PolicyRef>(PolicyRef, ref, 'policy'));
    return withTransaction(this.options.pool, async (db) => {
      const previousDays = await this.store.removePolicy(db, rule);
      if (previousDays === null) return false;
      await writeAudit(
        db,
        { actor, action: 'retention.policy.remove', target: policyTarget(rule), details: { previousDays } },
        this.now(),
      );
      return true;
    });
  }

  async holds(options: { includeReleased?: boolean } = {}): Promise<LegalHold[]> {
    return this.store.holds(options.includeReleased ?? false);
  }

  async addHold(input: NewLegalHold, actor: string): Promise<LegalHold> {
    const hold = validate<NewLegalHold>(NewLegalHold, input, 'legal hold');
    const from = new Date(hold.from);
    const to = new Date(hold.to);
    if (to <= from) throw new CodedError(RetentionErrorCode.invalid, 'legal hold: `to` must be after `from`');
    if (hold.site !== undefined) await this.requireScope('site', hold.site);
    return withTransaction(this.options.pool, async (db) => {
      const created = await this.store.addHold(
        db,
        { site: hold.site ?? null, from, to, reason: hold.reason },
        actor,
        this.now(),
      );
      await writeAudit(
        db,
        {
          actor,
          action: 'retention.hold.add',
          target: `hold:${created.id}`,
          details: { site: created.site, from: created.from, to: created.to },
        },
        this.now(),
      );
      return created;
    });
  }

  async releaseHold(id: number, actor: string): Promise<LegalHold> {
    return withTransaction(this.options.pool, async (db) => {
      const released = await this.store.releaseHold(db, id, actor, this.now());
      if (!released) throw new CodedError(RetentionErrorCode.holdUnknown, `no active legal hold ${id}`);
      await writeAudit(
        db,
        { actor, action: 'retention.hold.release', target: `hold:${id}`, details: { site: released.site } },
        this.now(),
      );
      return released;
    });
  }

  /** Runs retention now; a manual run (with an actor) is audited, the scheduled one is in the deletion log. */
  async runNow(options: { dryRun: boolean }, actor?: string): Promise<RetentionReport> {
    const { pool, clock, log, settings } = this.options;
    let report: RetentionReport;
    try {
      report = await runRetention(
        {
          pool,
          store: this.store,
          partitions: partitionSqlFor(await this.storageMode()),
          settings,
          stores: this.registered,
          clock,
          log,
          shouldStop: () => this.halted,
          alarms: this.alarms,
        },
        options.dryRun,
      );
    } catch (error) {
      if (!options.dryRun && !hasCode(error, RetentionErrorCode.busy))
        await this.alarms.runFailed(toError(error));
      throw error;
    }
    // Dropped partitions take their own statistics with them; the parent's stay until analysed.
    // Only after a run that deleted something: an hourly run with nothing due analyses nothing.
    if (!options.dryRun && report.entries.some((entry) => entry.count > 0))
      await refreshAfterDeletion(pool, log, {
        vacuum: false,
        lockTimeoutMs: settings.lockTimeoutSeconds * 1000,
      });
    if (actor) {
      await writeAudit(
        pool,
        {
          actor,
          action: options.dryRun ? 'retention.dry-run' : 'retention.run',
          target: `run:${report.runId}`,
          details: {
            deleted: report.entries.reduce((n, e) => n + e.count, 0),
            failures: report.failures.length,
          },
        },
        this.now(),
      );
    }
    return report;
  }

  async deletionLog(options: { limit?: number; runId?: string } = {}): Promise<DeletionLogRow[]> {
    return readDeletions(this.options.pool, options);
  }

  /** Erases a person on request: see PersonErasure for what goes and what stays. */
  async erasePerson(personId: string, options: ErasureOptions, actor: string): Promise<ErasureReport> {
    const report = await this.erasure.erase(personId, options, actor);
    await refreshAfterDeletion(this.options.pool, this.options.log, {
      vacuum: true,
      lockTimeoutMs: this.options.settings.lockTimeoutSeconds * 1000,
    });
    return report;
  }

  /** Asks a running sweep to stop after its current batch (the dashboard is stopping). */
  halt(): void {
    this.halted = true;
  }

  private async checkedRule(ref: PolicyRef): Promise<Omit<PolicyRule, 'days'>> {
    const allowed = DATA_CLASSES[ref.dataClass].scopes;
    if (allowed.length === 0)
      throw new CodedError(
        RetentionErrorCode.scope,
        `${ref.dataClass} takes no policy: ${DATA_CLASSES[ref.dataClass].description}`,
      );
    if (!allowed.includes(ref.scope)) {
      throw new CodedError(
        RetentionErrorCode.scope,
        `${ref.dataClass} can only have a policy of scope ${allowed.join(', ')}, not ${ref.scope}`,
      );
    }
    if (ref.scope === 'global') {
      if (ref.scopeId !== undefined)
        throw new CodedError(RetentionErrorCode.invalid, 'a global policy takes no customer or site');
      return { dataClass: ref.dataClass, scope: 'global', scopeId: null };
    }
    if (ref.scopeId === undefined)
      throw new CodedError(RetentionErrorCode.invalid, `a ${ref.scope} policy needs the ${ref.scope} id`);
    await this.requireScope(ref.scope, ref.scopeId);
    return { dataClass: ref.dataClass, scope: ref.scope, scopeId: ref.scopeId };
  }

  private async requireScope(scope: 'customer' | 'site', id: string): Promise<void> {
    if (!(await this.store.scopeExists(scope, id))) {
      throw new CodedError(
        RetentionErrorCode.unknownScope,
        scope === 'customer'
          ? `no customer "${id}" in the directory`
          : `no site "${id}" in the directory or among the trusted gateways`,
      );
    }
  }

  private async storageMode(): Promise<StorageMode> {
    if (!this.mode) {
      const result = await this.options.pool.query<{ value: string }>(
        `SELECT value FROM identgate_meta WHERE key = 'storage_mode'`,
      );
      this.mode = result.rows[0]?.value === 'timescale' ? 'timescale' : 'native';
    }
    return this.mode;
  }

  private now(): Date {
    return new Date(this.options.clock.now());
  }
}

function policyTarget(rule: Omit<PolicyRule, 'days'>): string {
  return `retention:${rule.dataClass}/${rule.scope === 'global' ? 'global' : `${rule.scope}:${rule.scopeId}`}`;
}

const validators = new Map<TSchema, ReturnType<typeof Compile>>();

/** Checks input against its schema; every problem is named in one coded error. */
function validate<T>(schema: TSchema, value: unknown, what: string): T {
  let validator = validators.get(schema);
  if (!validator) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  if (validator.Check(value)) return value as T;
  const problems = explainErrors(validator, schema, value).map(
    (p) => `${pointerToKeyPath(p.pointer)}: ${p.message}`,
  );
  throw new CodedError(RetentionErrorCode.invalid, `${what}: ${problems.join('; ')}`);
}
