import type { Pool } from 'pg';
import type { ExpiryRequest, PresenceStore } from '../retention/expiring-store.js';
import type { DeletionEntry } from '../retention/retention-schemas.js';

/**
 * Presence leaves two traces: the workstation audit entries (login checks, break-glass, lock
 * results) name the user who was or was not in the room, and `workstation_sessions` names who a
 * workstation let log in until their presence ends. Under the `presence` retention class (60 days
 * by default, per site) the user in those entries is replaced by `expired` — the entries
 * themselves stay, so the audit chain still shows that a check happened and `audit verify`
 * accepts the change where the deletion log covers it — and sessions allowed before the cutoff
 * are deleted (a session lives a shift; one that old was never ended). Held spans are left alone.
 * Entries are found by the workstation they are about (their target) as well as by their writer:
 * central writes the lock commands it sends (`workstation.lock-sent`, `-failed`) as `system`.
 * The entry's salt (migration 0034) goes with its user: the chain keeps the digest of the entry
 * as first written, which a guessed user could otherwise be tested against.
 */
export class WorkstationAuditExpiry implements PresenceStore {
  readonly dataClass = 'presence' as const;

  constructor(private readonly pool: Pool) {}

  async deleteOlderThan(request: ExpiryRequest): Promise<DeletionEntry[]> {
    const { rows: sites } = await this.pool.query<{ site: string }>(
      'SELECT DISTINCT site FROM workstations ORDER BY site',
    );
    const entries: DeletionEntry[] = [];
    for (const { site } of sites) {
      const started = Date.now();
      const { cutoff, source } = request.cutoffFor(site);
      const held = request.heldFor(site);
      const where = `starts_with(l.action, 'workstation.') AND l.details ? 'user'
          AND l.details ->> 'user' NOT IN ('erased', 'expired') AND l.at < $1
          AND EXISTS (SELECT 1 FROM workstations w WHERE w.site = $2 AND 'workstation:' || w.id IN (l.target, l.actor))
          AND NOT EXISTS (SELECT 1 FROM unnest($3::timestamptz[], $4::timestamptz[]) AS h(f, t)
                           WHERE l.at >= h.f AND l.at < h.t)`;
      const params = [cutoff, site, held.map((h) => new Date(h.from)), held.map((h) => new Date(h.to))];
      const result = request.dryRun
        ? await this.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM audit_log l WHERE ${where}`,
            params,
          )
        : await this.pool.query(
            `UPDATE audit_log l SET details = jsonb_set(l.details, '{user}', '"expired"'), salt = NULL WHERE ${where}`,
            params,
          );
      const count =
        (request.dryRun ? ((result.rows[0] as { n: number } | undefined)?.n ?? 0) : (result.rowCount ?? 0)) +
        (await this.expireSessions(request.dryRun, params));
      if (count === 0) continue;
      entries.push({
        dataClass: 'presence',
        scope: source,
        site,
        from: null,
        to: cutoff.toISOString(),
        count,
        method: 'delete',
        durationMs: Date.now() - started,
      });
    }
    return entries;
  }

  /** Sessions of the site's workstations allowed before the cutoff, outside held spans. */
  private async expireSessions(dryRun: boolean, params: unknown[]): Promise<number> {
    const where = `w.id = s.workstation_id AND w.site = $2 AND s.allowed_at < $1
      AND NOT EXISTS (SELECT 1 FROM unnest($3::timestamptz[], $4::timestamptz[]) AS h(f, t)
                       WHERE s.allowed_at >= h.f AND s.allowed_at < h.t)`;
    if (dryRun) {
      const result = await this.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM workstation_sessions s JOIN workstations w ON ${where}`,
        params,
      );
      return result.rows[0]?.n ?? 0;
    }
    const result = await this.pool.query(
      `DELETE FROM workstation_sessions s USING workstations w WHERE ${where}`,
      params,
    );
    return result.rowCount ?? 0;
  }
}
