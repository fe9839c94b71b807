import { type KeyObject, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { FOOTAGE_LINK_KIND } from '../../controllers/retention/data-classes.js';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { KeyRing } from '../../lib/key-ring.js';
import type { RetiredKey } from '../audit/central-keys.js';
import { beginErasureListChange, type ErasureListChange } from '../audit/erasure-list.js';
import { CREDENTIALS_CHANNEL } from '../cluster-channels.js';
import type { Queryable } from '../storage/event-store.js';
import { withTransaction } from '../storage/transaction.js';
import { eraseFromAuditLog } from './audit-log-erasure.js';
import { writeDeletions } from './deletion-log.js';
import { ERASURE_EXCLUSIVE, writeTombstones } from './erasure-tombstones.js';
import { RetentionErrorCode } from './retention-errors.js';
import type { DeletionEntry } from './retention-schemas.js';

/**
 * Erasure of one person on request (GDPR Art. 17), in one transaction:
 * - always: the person, their badges, site grants and sealed TOTP secret;
 * - unless `keepEvents`: their events (by person; by one of their badges only where no other
 *   person is named, since a badge can have been someone else's before), the footage links of
 *   those events, the alarms those events raised or whose key names their badges, and quarantined
 *   payloads that contain their id, a badge or a badge's lock-out key as a JSON string; their id in others' events (a two-person-rule
 *   companion) becomes `erased`. Data under a legal hold stays (Art. 17(3)(e)) and is counted; it
 *   goes when the hold is released and its retention has passed.
 * - always, also with `keepEvents`: the person and their badges in staff actions of the audit
 *   log become `erased` (audit-log-erasure.ts); the log is kept without end, so an id there
 *   would outlive any kept event. Their workstation sessions and owed locks (lock on leave) stay
 *   without the person, so that those workstations are still locked.
 * Every chain row whose source it deleted or rewrote is listed in erased_chain_rows, so that
 * `audit verify` accepts exactly those; the list's digest in its audit entry is signed with the
 * central key (erasure-list.ts). The tombstones' key is opened with the master keys.
 * The sequence numbers of erased events stay claimed in event_sequences (site, gateway, number
 * and event id — nothing about the person), so a gateway's resend or a replay cannot bring the
 * events back. The deletion log and the audit log record counts and the caller's reference,
 * never the person's id.
 */
export interface ErasureOptions {
  /** Keep the person's events and alarms until their retention ends (e.g. a legal obligation to keep access logs). */
  keepEvents?: boolean;
  /** The request's reference in the operator's own records (a ticket number), for the audit log. */
  reference?: string;
  /**
   * Tell the running dashboards to publish the person's sites' credential sets now (default); a
   * dashboard that erases publishes them itself.
   */
  announce?: boolean;
}

export interface ErasureReport {
  person: boolean;
  badges: number;
  grants: number;
  events: number;
  footageLinks: number;
  alarms: number;
  quarantine: number;
  /** Events of the person kept because a legal hold covers them. */
  heldEvents: number;
  /** Other people's events that named the person as their two-person-rule companion, now `erased`. */
  companions: number;
  /** Audit log entries that named the person or a badge of theirs, now `erased`. */
  auditEntries: number;
  keptEvents: boolean;
}

/** Matches a row that an active legal hold covers; `alias` is the table alias, `time` its time column. */
const heldSql = (alias: string, start: string, end: string) =>
  `EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL
            AND (h.site IS NULL OR h.site = ${alias}.site) AND ${start} < h.held_to AND ${end} >= h.held_from)`;

/** The alarm key of a badge's lock-out: the gateway's only key that names a badge. */
const lockOutKey = (badge: string) => `badge-locked-out:${badge}`;

/**
 * The person's events ($1 person, $2 their badges, $3 their badges' lock-out keys). A badge
 * alone matches only where no person is named, and a lock-out's `alarm.cleared` (which names
 * none) only unless the lock-out it ends was raised for someone else.
 */
const PERSON_EVENTS = `(e.person = $1
  OR (e.person IS NULL AND e.data ? 'badge' AND e.data ->> 'badge' = ANY($2::text[]))
  OR (e.kind = 'alarm.cleared' AND e.data ->> 'key' = ANY($3::text[])
      AND coalesce((SELECT r.person FROM events r
                     WHERE r.kind = 'alarm.raised' AND r.site = e.site AND r.gateway = e.gateway
                       AND r.data ->> 'key' = e.data ->> 'key' AND r.occurred_at <= e.occurred_at
                     ORDER BY r.occurred_at DESC LIMIT 1), $1) = $1))`;

/** Lists the chain rows of deleted source rows ($1 source, $2 their ids), for `audit verify`. */
const LIST_ERASED = `INSERT INTO erased_chain_rows (site, no)
  SELECT c.site, c.no FROM audit_chain c WHERE c.source = $1 AND c.ref = ANY($2::text[])
  ON CONFLICT (site, no) DO UPDATE SET redacted = NULL`;

/** The central keys an erasure uses; each may be absent where it is not configured (see the docs). */
export interface ErasureKeys {
  /** Signs the list of erased chain rows (keys.signing). */
  signingKey?: KeyObject;
  /** Central keys keys.signing replaced (keys.retiredSigning): the list's last change may be theirs. */
  retiredKeys?: readonly RetiredKey[];
  /** Open the tombstones' key (keys.master). */
  masterKeys?: KeyRing;
}

export class PersonErasure {
  constructor(
    private readonly pool: Pool,
    private readonly clock: Clock,
    private readonly keys: ErasureKeys = {},
  ) {}

  async erase(personId: string, options: ErasureOptions, actor: string): Promise<ErasureReport> {
    const started = this.clock.now();
    return withTransaction(this.pool, async (db) => {
      // One erasure at a time: each records (and signs) the list of erased chain rows as it
      // leaves it, going on only from the list as the last change left it.
      const list = await beginErasureListChange(db, this.keys.signingKey, this.keys.retiredKeys);
      // No event of theirs is stored while this runs (erasure-tombstones.ts).
      await db.query(ERASURE_EXCLUSIVE);
      const person = await db.query('SELECT 1 FROM people WHERE id = $1 FOR UPDATE', [personId]);
      const badges = (
        await db.query<{ badge: string }>('SELECT badge FROM badges WHERE person_id = $1', [personId])
      ).rows.map((r) => r.badge);
      const report: ErasureReport = {
        person: (person.rowCount ?? 0) > 0,
        badges: badges.length,
        grants: 0,
        events: 0,
        footageLinks: 0,
        alarms: 0,
        quarantine: 0,
        heldEvents: 0,
        companions: 0,
        auditEntries: 0,
        keptEvents: options.keepEvents ?? false,
      };
      if (!options.keepEvents) await this.eraseRecords(db, personId, badges, report);
      // Their events arriving later are not stored either (erasure-tombstones.ts).
      if (!options.keepEvents)
        await writeTombstones(db, this.keys.masterKeys, personId, badges, new Date(started));
      report.auditEntries = await eraseFromAuditLog(db, personId, badges);
      if (!report.person && report.events === 0 && report.heldEvents === 0 && report.auditEntries === 0) {
        throw new CodedError(
          RetentionErrorCode.personUnknown,
          `no person and no events with id "${personId}"`,
        );
      }
      const grants = await db.query<{ site: string }>(
        'DELETE FROM access_grants WHERE person_id = $1 RETURNING site',
        [personId],
      );
      report.grants = grants.rowCount ?? 0;
      // Delivered at the commit: every dashboard publishes these sites' credential sets again, so
      // that gateways drop the person now, not at the hourly refresh.
      if (options.announce !== false)
        for (const site of new Set(grants.rows.map((r) => r.site)))
          await db.query('SELECT pg_notify($1, $2)', [CREDENTIALS_CHANNEL, site]);
      // The workstations they may be logged into keep their row, naming nobody: every running
      // dashboard locks them at its next directory refresh (the notice above, or the periodic one).
      await db.query('UPDATE workstation_sessions SET person_id = NULL WHERE person_id = $1', [personId]);
      await db.query('UPDATE workstation_locks SET person_id = NULL WHERE person_id = $1', [personId]);
      await db.query('DELETE FROM badges WHERE person_id = $1', [personId]);
      await db.query('DELETE FROM people WHERE id = $1', [personId]);
      await this.log(db, list, report, started, options.reference, actor);
      return report;
    });
  }

  private async eraseRecords(db: Queryable, personId: string, badges: string[], report: ErasureReport) {
    const keys = badges.map(lockOutKey);
    const gone = await db.query<{ id: string }>(
      `DELETE FROM events e WHERE ${PERSON_EVENTS} AND NOT ${heldSql('e', 'e.occurred_at', 'e.occurred_at')}
       RETURNING e.id::text`,
      [personId, badges, keys],
    );
    const ids = gone.rows.map((r) => r.id);
    report.events = ids.length;
    report.heldEvents =
      (
        await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM events e WHERE ${PERSON_EVENTS}`, [
          personId,
          badges,
          keys,
        ])
      ).rows[0]?.n ?? 0;
    const links = await db.query<{ id: string }>(
      `DELETE FROM events e WHERE e.kind = '${FOOTAGE_LINK_KIND}' AND e.data ->> 'event' = ANY($1::text[])
         AND NOT ${heldSql('e', 'e.occurred_at', 'e.occurred_at')}
       RETURNING e.id::text`,
      [ids],
    );
    report.footageLinks = links.rowCount ?? 0;
    await db.query(LIST_ERASED, ['event', [...ids, ...links.rows.map((r) => r.id)]]);
    report.companions = await this.redactCompanions(db, personId);
    // Other alarms link their event; a lock-out's key names the badge, which may have been
    // someone else's then: its alarm.raised event, where still stored, says whose.
    const alarms = await db.query<{ id: string }>(
      `DELETE FROM alarms a
        WHERE (a.event_id = ANY($1::uuid[])
               OR (a.key = ANY($2::text[])
                   AND NOT EXISTS (SELECT 1 FROM events r WHERE r.id = a.event_id AND r.person <> $3)))
          AND NOT ${heldSql('a', 'a.raised_at', 'greatest(a.raised_at, a.last_seen_at, a.cleared_at, a.acknowledged_at, a.resolved_at)')}
        RETURNING a.id::text`,
      [ids, keys, personId],
    );
    report.alarms = alarms.rowCount ?? 0;
    await db.query(LIST_ERASED, ['alarm', alarms.rows.map((r) => r.id)]);
    // Raw payloads: the id, a badge or a badge's lock-out key as a JSON string value (a refused
    // lock-out clearing names the badge only in its key, as the events above). Quarantine has no
    // trusted site, so any hold covering the time keeps a payload.
    const needles = [personId, ...badges, ...keys].map((s) => Buffer.from(JSON.stringify(s), 'utf8'));
    report.quarantine =
      (
        await db.query(
          `DELETE FROM quarantine q
            WHERE EXISTS (SELECT 1 FROM unnest($1::bytea[]) AS n(needle) WHERE position(n.needle IN q.payload) > 0)
              AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL
                               AND q.received_at >= h.held_from AND q.received_at < h.held_to)`,
          [needles],
        )
      ).rowCount ?? 0;
  }

  /**
   * Replaces the person as the two-person-rule companion in others' access events by `erased`,
   * and lists each with its new content digest: `audit verify` accepts the change only while the
   * event stays exactly as left here. Events under a legal hold stay as they are.
   * The gateway's signature goes too (`''`: it no longer matches the data, and with the gateway's
   * public key it would confirm a guessed companion), and with it the one unguessable part of
   * the digest the chain keeps of the event as first written; so does the copy of that digest
   * the ingest stored with it (`chain_digest`). The listed digest is of the event as left here.
   */
  private async redactCompanions(db: Queryable, personId: string): Promise<number> {
    const result = await db.query<{ n: number }>(
      `WITH redacted AS (
         UPDATE events e SET data = jsonb_set(e.data, '{companion}', '"erased"'), signature = '', chain_digest = NULL
          WHERE e.kind = 'access.granted' AND e.data ->> 'companion' = $1
            AND NOT ${heldSql('e', 'e.occurred_at', 'e.occurred_at')}
         RETURNING e.id, identgate_event_digest(e) AS digest
       ), listed AS (
         INSERT INTO erased_chain_rows (site, no, redacted)
         SELECT c.site, c.no, r.digest FROM redacted r JOIN audit_chain c ON c.source = 'event' AND c.ref = r.id::text
         ON CONFLICT (site, no) DO UPDATE SET redacted = EXCLUDED.redacted
       )
       SELECT count(*)::int AS n FROM redacted`,
      [personId],
    );
    return result.rows[0]?.n ?? 0;
  }

  private async log(
    db: Queryable,
    list: ErasureListChange,
    report: ErasureReport,
    started: number,
    reference: string | undefined,
    actor: string,
  ): Promise<void> {
    const durationMs = Math.max(0, Math.round(this.clock.now() - started));
    const entry = (dataClass: DeletionEntry['dataClass'], count: number): DeletionEntry => ({
      dataClass,
      scope: 'erasure',
      site: null,
      from: null,
      to: null,
      count,
      method: 'erase',
      durationMs,
    });
    const stamp = { runId: randomUUID(), startedAt: new Date(started), dryRun: false };
    await writeDeletions(
      db,
      stamp,
      [
        entry('access-events', report.events),
        entry('video', report.footageLinks),
        entry('alarms', report.alarms),
        entry('quarantine', report.quarantine),
      ].filter((e) => e.count > 0),
    );
    const { person: _, keptEvents, ...counts } = report;
    await list.record(
      {
        actor,
        action: 'person.erase',
        target: null,
        details: { reference: reference ?? null, runId: stamp.runId, keptEvents, ...counts },
      },
      new Date(this.clock.now()),
    );
  }
}
