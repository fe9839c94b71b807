import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { KeyRing } from '../../lib/key-ring.js';
import type { SyncedCredential, WeeklySchedule } from '../../protocol/credential-set.js';
import type { Queryable } from './event-store.js';

/**
 * People (agents), their badges, TOTP secrets and site grants: the source of every gateway's
 * credential set. TOTP secrets are sealed with AES-256-GCM under the central master key before
 * they reach the database; the sealed value names its key, so that the master key can be rotated
 * while the dashboard runs (master-key-rotation.ts).
 */
export interface PersonInput {
  id: string;
  displayName: string;
  backgroundCheckOn?: string;
  trainingOn?: string;
  mayOpenRoom?: boolean;
  schedule?: WeeklySchedule;
}

export const SECRET_CONTEXT = 'identgate/totp-secret/v1';

/** A badge with its holder, as credentialsForSite reads it. */
interface CredentialRow {
  badge: string;
  person_id: string;
  display_name: string;
  status: 'active' | 'revoked';
  valid_from: Date | null;
  valid_until: Date | null;
  totp_secret_sealed: string | null;
  schedule: WeeklySchedule | null;
  background_check_on: string | null;
  training_on: string | null;
  may_open_room: boolean;
}

export class PeopleStore {
  private readonly keys: KeyRing | undefined;

  /** `masterKey`: the current master key alone, or a key ring with older (or next) keys. */
  constructor(
    private readonly pool: Pool,
    masterKey: Buffer | KeyRing | undefined,
  ) {
    this.keys = Buffer.isBuffer(masterKey) ? new KeyRing(masterKey) : masterKey;
  }

  async upsertPerson(person: PersonInput, db: Queryable = this.pool): Promise<void> {
    await db.query(
      `INSERT INTO people (id, display_name, background_check_on, training_on, may_open_room, schedule)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name,
         background_check_on = EXCLUDED.background_check_on, training_on = EXCLUDED.training_on,
         may_open_room = EXCLUDED.may_open_room, schedule = EXCLUDED.schedule, updated_at = now()`,
      [
        person.id,
        person.displayName,
        person.backgroundCheckOn ?? null,
        person.trainingOn ?? null,
        person.mayOpenRoom ?? false,
        person.schedule ? JSON.stringify(person.schedule) : null,
      ],
    );
  }

  /** Creates a person; false when the id is taken (decided by the insert, so two at once cannot both). */
  async createPerson(person: Omit<PersonInput, 'schedule'>, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query(
      `INSERT INTO people (id, display_name, background_check_on, training_on, may_open_room)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
      [
        person.id,
        person.displayName,
        person.backgroundCheckOn ?? null,
        person.trainingOn ?? null,
        person.mayOpenRoom ?? false,
      ],
    );
    return result.rowCount === 1;
  }

  /**
   * Changes what `change` names of an existing person (a date set to null is cleared); false when
   * there is no such person — one erased meanwhile is not brought back, as an upsert would.
   */
  async updatePerson(
    id: string,
    change: {
      displayName?: string;
      backgroundCheckOn?: string | null;
      trainingOn?: string | null;
      mayOpenRoom?: boolean;
    },
    db: Queryable = this.pool,
  ): Promise<boolean> {
    const result = await db.query(
      `UPDATE people SET display_name = COALESCE($2, display_name),
         background_check_on = CASE WHEN $3 THEN $4::date ELSE background_check_on END,
         training_on = CASE WHEN $5 THEN $6::date ELSE training_on END,
         may_open_room = COALESCE($7, may_open_room), updated_at = now()
       WHERE id = $1`,
      [
        id,
        change.displayName ?? null,
        change.backgroundCheckOn !== undefined,
        change.backgroundCheckOn ?? null,
        change.trainingOn !== undefined,
        change.trainingOn ?? null,
        change.mayOpenRoom ?? null,
      ],
    );
    return result.rowCount === 1;
  }

  async setTotpSecret(personId: string, secret: string, db: Queryable = this.pool): Promise<void> {
    const sealed = this.ring().seal(Buffer.from(secret, 'utf8'), `${SECRET_CONTEXT}/${personId}`);
    const result = await db.query(
      'UPDATE people SET totp_secret_sealed = $2, updated_at = now() WHERE id = $1',
      [personId, sealed],
    );
    if (result.rowCount === 0) throw new CodedError('IDG_PERSON_UNKNOWN', `no person "${personId}"`);
  }

  async addBadge(
    badge: string,
    personId: string,
    validity: { from?: Date; until?: Date } = {},
    db: Queryable = this.pool,
  ): Promise<boolean> {
    // Never moves a badge from another person (decided by the statement itself, so a concurrent
    // request cannot slip one past the route's check): false then.
    const result = await db.query(
      `INSERT INTO badges (badge, person_id, valid_from, valid_until) VALUES ($1, $2, $3, $4)
       ON CONFLICT (badge) DO UPDATE SET status = 'active', revoked_at = NULL,
         valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until
       WHERE badges.person_id = EXCLUDED.person_id`,
      [badge, personId, validity.from ?? null, validity.until ?? null],
    );
    return result.rowCount === 1;
  }

  /** Revokes the person's active badge; false when they hold no such active badge. */
  async revokeBadge(badge: string, personId: string, db: Queryable = this.pool): Promise<boolean> {
    const result = await db.query(
      `UPDATE badges SET status = 'revoked', revoked_at = now()
        WHERE badge = $1 AND person_id = $2 AND status = 'active'`,
      [badge, personId],
    );
    return result.rowCount === 1;
  }

  async grantSite(personId: string, site: string, db: Queryable = this.pool): Promise<void> {
    await db.query('INSERT INTO access_grants (person_id, site) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      personId,
      site,
    ]);
  }

  /** Every credential the gateways of `site` need, revoked badges first. */
  async credentialsForSite(site: string, db: Queryable = this.pool): Promise<SyncedCredential[]> {
    const result = await db.query<CredentialRow>(
      `SELECT b.badge, b.person_id, p.display_name, b.status, b.valid_from, b.valid_until, p.totp_secret_sealed,
              p.schedule, to_char(p.background_check_on, 'YYYY-MM-DD') AS background_check_on,
              to_char(p.training_on, 'YYYY-MM-DD') AS training_on, p.may_open_room
         FROM badges b JOIN people p ON p.id = b.person_id JOIN access_grants g ON g.person_id = p.id AND g.site = $1
        WHERE p.totp_secret_sealed IS NOT NULL
        ORDER BY (b.status = 'active'), b.badge`,
      [site],
    );
    return result.rows.map((row): SyncedCredential => {
      // A revoked badge: what a gateway needs to refuse it and say whose it was, nothing more.
      if (row.status === 'revoked') return { badge: row.badge, person: row.person_id, status: 'revoked' };
      return this.activeCredential(row);
    });
  }

  private activeCredential(row: CredentialRow): SyncedCredential {
    return {
      badge: row.badge,
      person: row.person_id,
      name: row.display_name,
      status: 'active',
      totpSecret: this.ring()
        .open(row.totp_secret_sealed as string, `${SECRET_CONTEXT}/${row.person_id}`)
        .toString('utf8'),
      ...(row.valid_from ? { validFrom: row.valid_from.getTime() } : {}),
      ...(row.valid_until ? { validUntil: row.valid_until.getTime() } : {}),
      ...(row.schedule ? { schedule: row.schedule } : {}),
      ...(row.background_check_on ? { backgroundCheckOn: row.background_check_on } : {}),
      ...(row.training_on ? { trainingOn: row.training_on } : {}),
      ...(row.may_open_room ? { mayOpenRoom: true } : {}),
    };
  }

  private ring(): KeyRing {
    if (!this.keys) {
      throw new CodedError(
        'IDG_NO_MASTER_KEY',
        'keys.master is not configured: TOTP secrets cannot be stored or synced',
      );
    }
    return this.keys;
  }
}
