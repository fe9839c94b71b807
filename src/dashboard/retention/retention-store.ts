import type { Pool } from 'pg';
import type { PolicyScope } from '../../controllers/retention/data-classes.js';
import type { LegalHoldRange } from '../../controllers/retention/event-partition-planner.js';
import type { PolicyRule } from '../../controllers/retention/policy-book.js';
import type { Queryable } from '../storage/event-store.js';
import type { LegalHold, StoredPolicy } from './retention-schemas.js';

/** Policies, legal holds and the site → customer map, as PostgreSQL keeps them. */
interface PolicyRow {
  data_class: PolicyRule['dataClass'];
  scope: PolicyScope;
  scope_id: string;
  days: number;
  updated_at: Date;
  updated_by: string;
}

interface HoldRow {
  id: string;
  site: string | null;
  held_from: Date;
  held_to: Date;
  reason: string;
  created_by: string;
  created_at: Date;
  released_at: Date | null;
  released_by: string | null;
}

const policyFromRow = (r: PolicyRow): StoredPolicy => ({
  dataClass: r.data_class,
  scope: r.scope,
  scopeId: r.scope === 'global' ? null : r.scope_id,
  days: r.days,
  updatedAt: r.updated_at.toISOString(),
  updatedBy: r.updated_by,
});

const holdFromRow = (r: HoldRow): LegalHold => ({
  id: Number(r.id),
  site: r.site,
  from: r.held_from.toISOString(),
  to: r.held_to.toISOString(),
  reason: r.reason,
  createdBy: r.created_by,
  createdAt: r.created_at.toISOString(),
  releasedAt: r.released_at?.toISOString() ?? null,
  releasedBy: r.released_by,
});

export class RetentionStore {
  constructor(private readonly pool: Pool) {}

  async policies(db: Queryable = this.pool): Promise<StoredPolicy[]> {
    const result = await db.query<PolicyRow>(
      'SELECT * FROM retention_policies ORDER BY data_class, scope, scope_id',
    );
    return result.rows.map(policyFromRow);
  }

  async customerOfSites(db: Queryable = this.pool): Promise<Map<string, string>> {
    const result = await db.query<{ id: string; customer_id: string }>(
      'SELECT id, customer_id FROM sites WHERE customer_id IS NOT NULL',
    );
    return new Map(result.rows.map((r) => [r.id, r.customer_id]));
  }

  /** A customer must be in the directory; a site in the directory or among the trusted gateways. */
  async scopeExists(scope: 'customer' | 'site', id: string, db: Queryable = this.pool): Promise<boolean> {
    const sql =
      scope === 'customer'
        ? 'SELECT 1 FROM customers WHERE id = $1'
        : 'SELECT 1 FROM sites WHERE id = $1 UNION ALL SELECT 1 FROM gateways WHERE site = $1';
    return ((await db.query(sql, [id])).rowCount ?? 0) > 0;
  }

  /** Stores the rule; returns it with the days it replaced, if any. */
  async putPolicy(
    db: Queryable,
    rule: PolicyRule,
    actor: string,
    at: Date,
  ): Promise<{ policy: StoredPolicy; previousDays: number | null }> {
    const previous = await db.query<{ days: number }>(
      'SELECT days FROM retention_policies WHERE data_class = $1 AND scope = $2 AND scope_id = $3 FOR UPDATE',
      [rule.dataClass, rule.scope, rule.scopeId ?? ''],
    );
    const result = await db.query<PolicyRow>(
      `INSERT INTO retention_policies (data_class, scope, scope_id, days, updated_at, updated_by)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (data_class, scope, scope_id)
       DO UPDATE SET days = EXCLUDED.days, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
       RETURNING *`,
      [rule.dataClass, rule.scope, rule.scopeId ?? '', rule.days, at, actor],
    );
    return {
      policy: policyFromRow(result.rows[0] as PolicyRow),
      previousDays: previous.rows[0]?.days ?? null,
    };
  }

  /** Removes the rule so that the next wider scope applies again; returns the days it had. */
  async removePolicy(
    db: Queryable,
    ref: Pick<PolicyRule, 'dataClass' | 'scope' | 'scopeId'>,
  ): Promise<number | null> {
    const result = await db.query<{ days: number }>(
      'DELETE FROM retention_policies WHERE data_class = $1 AND scope = $2 AND scope_id = $3 RETURNING days',
      [ref.dataClass, ref.scope, ref.scopeId ?? ''],
    );
    return result.rows[0]?.days ?? null;
  }

  async holds(includeReleased: boolean, db: Queryable = this.pool): Promise<LegalHold[]> {
    const result = await db.query<HoldRow>(
      `SELECT * FROM legal_holds WHERE $1 OR released_at IS NULL ORDER BY id`,
      [includeReleased],
    );
    return result.rows.map(holdFromRow);
  }

  async activeHoldRanges(db: Queryable = this.pool): Promise<LegalHoldRange[]> {
    return (await this.holds(false, db)).map((h) => ({
      id: h.id,
      site: h.site,
      from: Date.parse(h.from),
      to: Date.parse(h.to),
    }));
  }

  async addHold(
    db: Queryable,
    hold: { site: string | null; from: Date; to: Date; reason: string },
    actor: string,
    at: Date,
  ): Promise<LegalHold> {
    const result = await db.query<HoldRow>(
      `INSERT INTO legal_holds (site, held_from, held_to, reason, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [hold.site, hold.from, hold.to, hold.reason, actor, at],
    );
    return holdFromRow(result.rows[0] as HoldRow);
  }

  /** Releases an active hold; undefined when there is no such active hold. */
  async releaseHold(db: Queryable, id: number, actor: string, at: Date): Promise<LegalHold | undefined> {
    const result = await db.query<HoldRow>(
      `UPDATE legal_holds SET released_at = $2, released_by = $3
        WHERE id = $1 AND released_at IS NULL RETURNING *`,
      [id, at, actor],
    );
    const row = result.rows[0];
    return row ? holdFromRow(row) : undefined;
  }
}
