import type { Pool } from 'pg';
import type { WeeklySchedule } from '../../protocol/credential-set.js';
import type { Queryable } from './event-store.js';

/**
 * What administrators see of people (agents) and what PeopleStore does not do itself: the list
 * with search, one person with badges and site grants, withdrawing a grant. Writing people,
 * badges, grants and TOTP secrets stays with PeopleStore, the source of the credential sets.
 */
export interface PersonSummary {
  id: string;
  displayName: string;
  backgroundCheckOn: string | null;
  trainingOn: string | null;
  mayOpenRoom: boolean;
  totpEnrolled: boolean;
  activeBadges: number;
  sites: string[];
  updatedAt: string;
}

export interface BadgeView {
  badge: string;
  status: 'active' | 'revoked';
  validFrom: string | null;
  validUntil: string | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface PersonDetail extends PersonSummary {
  badges: BadgeView[];
}

interface PersonRow {
  id: string;
  display_name: string;
  background_check_on: string | null;
  training_on: string | null;
  may_open_room: boolean;
  totp_enrolled: boolean;
  active_badges: number;
  sites: string[];
  updated_at: Date;
}

const PERSON_SELECT = `
  SELECT p.id, p.display_name, to_char(p.background_check_on, 'YYYY-MM-DD') AS background_check_on,
         to_char(p.training_on, 'YYYY-MM-DD') AS training_on, p.may_open_room,
         p.totp_secret_sealed IS NOT NULL AS totp_enrolled, p.updated_at,
         (SELECT count(*)::int FROM badges b WHERE b.person_id = p.id AND b.status = 'active') AS active_badges,
         coalesce((SELECT array_agg(g.site ORDER BY g.site) FROM access_grants g WHERE g.person_id = p.id), '{}') AS sites
    FROM people p`;

const summary = (r: PersonRow): PersonSummary => ({
  id: r.id,
  displayName: r.display_name,
  backgroundCheckOn: r.background_check_on,
  trainingOn: r.training_on,
  mayOpenRoom: r.may_open_room,
  totpEnrolled: r.totp_enrolled,
  activeBadges: r.active_badges,
  sites: r.sites,
  updatedAt: r.updated_at.toISOString(),
});

export class PeopleDirectory {
  constructor(private readonly pool: Pool) {}

  /** People whose id or name contains `query` (case-insensitive), by name. */
  async search(options: { query?: string; limit: number; offset: number }): Promise<PersonSummary[]> {
    const pattern = options.query ? `%${options.query.replace(/[\\%_]/g, '\\$&')}%` : null;
    const result = await this.pool.query<PersonRow>(
      `${PERSON_SELECT}
        WHERE $1::text IS NULL OR p.id ILIKE $1 OR p.display_name ILIKE $1
           OR EXISTS (SELECT 1 FROM badges b WHERE b.person_id = p.id AND b.badge ILIKE $1)
        ORDER BY lower(p.display_name), p.id LIMIT $2 OFFSET $3`,
      [pattern, options.limit, options.offset],
    );
    return result.rows.map(summary);
  }

  async get(id: string): Promise<PersonDetail | undefined> {
    const result = await this.pool.query<PersonRow>(`${PERSON_SELECT} WHERE p.id = $1`, [id]);
    const row = result.rows[0];
    if (!row) return undefined;
    const badges = await this.pool.query<{
      badge: string;
      status: 'active' | 'revoked';
      valid_from: Date | null;
      valid_until: Date | null;
      created_at: Date;
      revoked_at: Date | null;
    }>(
      `SELECT badge, status, valid_from, valid_until, created_at, revoked_at FROM badges
        WHERE person_id = $1 ORDER BY status, badge`,
      [id],
    );
    return {
      ...summary(row),
      badges: badges.rows.map((b) => ({
        badge: b.badge,
        status: b.status,
        validFrom: b.valid_from?.toISOString() ?? null,
        validUntil: b.valid_until?.toISOString() ?? null,
        createdAt: b.created_at.toISOString(),
        revokedAt: b.revoked_at?.toISOString() ?? null,
      })),
    };
  }

  /** The schedule kept as it is when an administrator changes the other fields. */
  async schedule(id: string): Promise<WeeklySchedule | null> {
    const result = await this.pool.query<{ schedule: WeeklySchedule | null }>(
      'SELECT schedule FROM people WHERE id = $1',
      [id],
    );
    return result.rows[0]?.schedule ?? null;
  }

  /** Who holds a badge (active or revoked), if anyone. */
  async badgeOwner(badge: string): Promise<string | undefined> {
    const result = await this.pool.query<{ person_id: string }>(
      'SELECT person_id FROM badges WHERE badge = $1',
      [badge],
    );
    return result.rows[0]?.person_id;
  }

  /** Whether the site is in the directory or has a trusted gateway. */
  async siteExists(site: string): Promise<boolean> {
    const result = await this.pool.query(
      'SELECT 1 FROM sites WHERE id = $1 UNION ALL SELECT 1 FROM gateways WHERE site = $1 LIMIT 1',
      [site],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async withdrawSite(personId: string, site: string, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query('DELETE FROM access_grants WHERE person_id = $1 AND site = $2', [
      personId,
      site,
    ]);
    return result.rowCount === 1;
  }
}
