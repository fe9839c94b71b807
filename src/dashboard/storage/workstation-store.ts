import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { WORKSTATIONS_CHANNEL } from '../cluster-channels.js';
import type { Queryable } from './event-store.js';

/**
 * Ident workstations (one room each) and their credentials, plus the directory facts presence
 * needs: which room a door leads into, who the people are, their compliance dates and which
 * badges are revoked. Tokens are returned once, at registration, and stored only as a hash.
 */
export interface WorkstationInput {
  id: string;
  site: string;
  room: string;
  name?: string;
}

export interface WorkstationRow {
  id: string;
  site: string;
  room: string;
  name: string;
  tokenHash: Buffer | null;
}

export interface PersonFacts {
  id: string;
  backgroundCheckOn?: string;
  trainingOn?: string;
}

export interface PresenceDirectory {
  workstations: WorkstationRow[];
  doors: Array<{ site: string; id: string; room: string }>;
  people: PersonFacts[];
  revokedBadges: string[];
}

export interface PresenceEventRow {
  kind: string;
  site: string;
  gateway: string;
  /** Absent for an evacuation read from the overview's facts. */
  seq?: number;
  occurredAt: string;
  data: Record<string, unknown>;
}

/** Tokens look like `idgws_<43 base64url characters>`: recognisable in a leaked file, 256 random bits. */
export const TOKEN_PREFIX = 'idgws_';

export function hashWorkstationToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class WorkstationStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Registers (or moves) a workstation and gives it a new token; the old token stops working on
   * every running dashboard as it hears the notice (WORKSTATIONS_CHANNEL), sent at the commit.
   */
  async register(input: WorkstationInput, db: Queryable = this.pool): Promise<string> {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    try {
      await db.query(
        `WITH registered AS (
           INSERT INTO workstations (id, site, room, name, token_hash) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (id) DO UPDATE SET site = EXCLUDED.site, room = EXCLUDED.room, name = EXCLUDED.name,
             token_hash = EXCLUDED.token_hash, registered_at = now()
           RETURNING id)
         SELECT pg_notify($6, id) FROM registered`,
        [
          input.id,
          input.site,
          input.room,
          input.name ?? input.id,
          hashWorkstationToken(token),
          WORKSTATIONS_CHANNEL,
        ],
      );
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '23503')
        throw new CodedError(
          'IDG_WORKSTATION_ROOM',
          `no room ${input.room} at site ${input.site}: add the room to the directory first`,
          { cause: error },
        );
      if (code === '23514')
        throw new CodedError(
          'IDG_WORKSTATION_ID',
          `workstation id ${JSON.stringify(input.id)} is not a host name (letters, digits, . _ -)`,
          { cause: error },
        );
      throw error;
    }
    return token;
  }

  /**
   * The events presence is built from, dated since `sinceMs`, in the order they were stored: the
   * order in which every running dashboard applied them (gateway clocks may disagree). An
   * evacuation still in force that began before `sinceMs` comes first, from the overview's facts
   * (which keep each gateway's newest evacuation change however old): without it a restart
   * during a long evacuation would let entries open presence at the evacuated site.
   */
  async presenceEventsSince(sinceMs: number): Promise<PresenceEventRow[]> {
    const result = await this.pool.query<{
      kind: string;
      site: string;
      gateway: string;
      seq: string | null;
      occurred_at: Date;
      data: Record<string, unknown>;
    }>(
      `SELECT kind, site, gateway, NULL::bigint AS seq, occurred_at, data, ingest_no FROM latest_facts
        WHERE facet = 'evacuation' AND kind = 'evacuation.changed' AND data -> 'active' = 'true'::jsonb
          AND occurred_at < $1
       UNION ALL
       SELECT kind, site, gateway, seq, occurred_at, data, ingest_no FROM events
        WHERE occurred_at >= $1
          AND kind IN ('access.granted', 'access.denied', 'lockdown.changed', 'evacuation.changed')
        ORDER BY ingest_no`,
      [new Date(sinceMs)],
    );
    return result.rows.map((r) => ({
      kind: r.kind,
      site: r.site,
      gateway: r.gateway,
      ...(r.seq === null ? {} : { seq: Number(r.seq) }),
      occurredAt: r.occurred_at.toISOString(),
      data: r.data,
    }));
  }

  /** Everything presence keeps in memory, read in one snapshot. */
  async directory(): Promise<PresenceDirectory> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const workstations = await client.query<{
        id: string;
        site: string;
        room: string;
        name: string;
        token_hash: Buffer | null;
      }>('SELECT id, site, room, name, token_hash FROM workstations');
      const doors = await client.query<{ site: string; id: string; room: string }>(
        'SELECT site, id, room FROM doors WHERE room IS NOT NULL',
      );
      const people = await client.query<{ id: string; bg: string | null; tr: string | null }>(
        `SELECT id, to_char(background_check_on, 'YYYY-MM-DD') AS bg, to_char(training_on, 'YYYY-MM-DD') AS tr
           FROM people`,
      );
      const revoked = await client.query<{ badge: string }>(
        `SELECT badge FROM badges WHERE status = 'revoked'`,
      );
      await client.query('COMMIT');
      return {
        workstations: workstations.rows.map((r) => ({
          id: r.id,
          site: r.site,
          room: r.room,
          name: r.name,
          tokenHash: r.token_hash,
        })),
        doors: doors.rows,
        people: people.rows.map((r) => ({
          id: r.id,
          ...(r.bg ? { backgroundCheckOn: r.bg } : {}),
          ...(r.tr ? { trainingOn: r.tr } : {}),
        })),
        revokedBadges: revoked.rows.map((r) => r.badge),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
