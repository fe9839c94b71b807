import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import { exportPublicKey } from '../../protocol/signing.js';
import type { Queryable } from '../storage/event-store.js';
import { withTransaction } from '../storage/transaction.js';
import { AuditErrorCode } from './audit-errors.js';
import type { RetiredKey } from './central-keys.js';
import { type Checkpoint, signCheckpoint, ZERO_HASH } from './chain-links.js';
import { lockChain } from './chain-lock.js';
import { keyInUse, readHandover } from './key-handover.js';

/**
 * Day checkpoints of the hash chains: for every finished UTC day (by the time rows joined their
 * chain) the first and last row number, the link before it and the day's head, signed by the
 * central key. A checkpoint holds no personal data, so it stays when retention deletes the day's
 * rows; the days after it verify from its head.
 */
interface CheckpointRow {
  site: string;
  day: Date | string;
  first_no: string;
  last_no: string;
  count: string;
  prev_hash: Buffer;
  head: Buffer;
  span_from: Date;
  span_to: Date;
  public_key: string;
  signature: string;
}

const dayText = (d: Date | string) => (typeof d === 'string' ? d : d.toISOString()).slice(0, 10);

function fromRow(r: CheckpointRow): Checkpoint {
  return {
    site: r.site,
    day: dayText(r.day),
    firstNo: Number(r.first_no),
    lastNo: Number(r.last_no),
    count: Number(r.count),
    prevHash: r.prev_hash.toString('hex'),
    head: r.head.toString('hex'),
    from: r.span_from.toISOString(),
    to: r.span_to.toISOString(),
    publicKey: r.public_key,
    signature: r.signature,
  };
}

/** The checkpoints of one chain (or every chain), oldest first. */
export async function listCheckpoints(db: Queryable, site?: string): Promise<Checkpoint[]> {
  const result = await db.query<CheckpointRow>(
    `SELECT site, to_char(day, 'YYYY-MM-DD') AS day, first_no, last_no, count, prev_hash, head, span_from, span_to,
            public_key, signature
       FROM audit_checkpoints WHERE ($1::text IS NULL OR site = $1) ORDER BY site, last_no`,
    [site ?? null],
  );
  return result.rows.map(fromRow);
}

export class ChainCheckpointer {
  private readonly publicKey: KeyObject;

  constructor(
    private readonly pool: Pool,
    private readonly signingKey: KeyObject,
    /** The keys signingKey replaced (keys.retiredSigning): their checkpoints are signed on from. */
    private readonly retired: readonly RetiredKey[] = [],
  ) {
    this.publicKey = createPublicKey(signingKey);
  }

  /** Signs every finished day not signed yet, in every chain; returns the new checkpoints. */
  async checkpointFinishedDays(): Promise<Checkpoint[]> {
    // The database's day, as `added_at` is the database's time.
    const now = await this.pool.query<{ today: string }>(
      `SELECT to_char((clock_timestamp() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS today`,
    );
    const today = now.rows[0]?.today as string;
    const sites = await this.pool.query<{ site: string }>(
      `SELECT DISTINCT site FROM audit_chain WHERE added_at < $1::date ORDER BY site`,
      [today],
    );
    const made: Checkpoint[] = [];
    const failed: Error[] = [];
    // Each chain on its own: one this instance may not sign on does not hold up the others.
    for (const { site } of sites.rows) {
      try {
        made.push(...(await this.checkpointSite(site, today)));
      } catch (error) {
        failed.push(error as Error);
      }
    }
    if (failed.length === 1) throw failed[0];
    if (failed.length > 1)
      throw new CodedError(
        (failed[0] as CodedError).code ?? AuditErrorCode.chainBroken,
        `${failed.length} chains not signed (${made.length} checkpoints made in the others): ${failed.map((e) => e.message).join('; ')}`,
      );
    return made;
  }

  /**
   * An instance left on a key another has replaced (keys.signing.in-use names a newer key, one
   * this configuration does not retire) signs nothing: its days belong to the new key.
   */
  private async refuseIfReplaced(db: Queryable): Promise<void> {
    const mine = exportPublicKey(this.publicKey);
    const inUse = await keyInUse(db);
    if (inUse && inUse !== mine && !this.retired.some((r) => r.publicKey === inUse))
      throw new CodedError(
        AuditErrorCode.checkpointKeyForeign,
        `the central key in use is ${inUse} (keys.signing.in-use), neither keys.signing (${mine}) nor a key it retires: no checkpoint signed; if this instance runs an old configuration, switch it to the current key (docs/security.md#rotating-the-central-signing-key)`,
      );
  }

  private checkpointSite(site: string, today: string): Promise<Checkpoint[]> {
    return withTransaction(this.pool, async (db) => {
      // The appenders' lock: a row still being written for a finished day lands before we read.
      await lockChain(db, site);
      // Under the chain's lock, which a handover takes too: a newer key's start is seen here.
      await this.refuseIfReplaced(db);
      const last = await db.query<{ last_no: string; head: Buffer; public_key: string; day: string }>(
        `SELECT last_no, head, public_key, to_char(day, 'YYYY-MM-DD') AS day
           FROM audit_checkpoints WHERE site = $1 ORDER BY last_no DESC LIMIT 1`,
        [site],
      );
      const signer = last.rows[0]?.public_key;
      const mine = exportPublicKey(this.publicKey);
      if (signer && signer !== mine && this.retired.some((r) => r.publicKey === signer)) {
        // A retired key's checkpoint is signed on from only where the handover says it stood.
        const handed = (await readHandover(db, mine))?.chains.get(site);
        const lastNo = Number(last.rows[0]?.last_no);
        if (!handed || lastNo > handed.lastNo)
          throw new CodedError(
            AuditErrorCode.checkpointKeyForeign,
            `chain ${site}: its last checkpoint (${last.rows[0]?.day}) is signed by the retired key ${signer} ${handed ? `beyond row ${handed.lastNo}, where the current key took the chain over` : 'and no handover to the current key is recorded'}: not signed on; see audit checkpoint --resign-after (docs/security.md#rotating-the-central-signing-key)`,
          );
      } else if (signer && signer !== mine) {
        // An instance left on the old key after a rotation must not sign days the new one owns.
        throw new CodedError(
          AuditErrorCode.checkpointKeyForeign,
          `chain ${site}: its last checkpoint (${last.rows[0]?.day}) is signed by ${signer}, neither keys.signing (${mine}) nor a key it retires (keys.retiredSigning): not signed on; if this instance runs an old configuration, switch it to the current key (docs/security.md#rotating-the-central-signing-key)`,
        );
      }
      let lastNo = Number(last.rows[0]?.last_no ?? 0);
      let previous = last.rows[0]?.head ?? ZERO_HASH;
      const days = await db.query<{
        day: string;
        first_no: string;
        last_no: string;
        count: string;
        span_from: Date;
        span_to: Date;
      }>(
        `SELECT to_char((added_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, min(no) AS first_no,
                max(no) AS last_no, count(*) AS count, min(added_at) AS span_from, max(added_at) AS span_to
           FROM audit_chain WHERE site = $1 AND no > $2 AND added_at < ($3::date)::timestamp AT TIME ZONE 'UTC'
          GROUP BY 1 ORDER BY 1`,
        [site, lastNo, today],
      );
      const made: Checkpoint[] = [];
      for (const d of days.rows) {
        const firstNo = Number(d.first_no);
        const dayLast = Number(d.last_no);
        const count = Number(d.count);
        if (firstNo !== lastNo + 1 || count !== dayLast - firstNo + 1) {
          throw new CodedError(
            AuditErrorCode.chainBroken,
            `chain ${site} has a gap in ${d.day} (rows ${firstNo}–${dayLast}, ${count} present, previous checkpoint ends at ${lastNo}); run identgate audit verify`,
          );
        }
        const head = await db.query<{ hash: Buffer }>(
          'SELECT hash FROM audit_chain WHERE site = $1 AND no = $2',
          [site, dayLast],
        );
        const headHash = head.rows[0]?.hash as Buffer;
        const checkpoint = signCheckpoint(
          {
            site,
            day: d.day,
            firstNo,
            lastNo: dayLast,
            count,
            prevHash: previous.toString('hex'),
            head: headHash.toString('hex'),
            from: d.span_from.toISOString(),
            to: d.span_to.toISOString(),
          },
          this.signingKey,
          this.publicKey,
        );
        await db.query(
          `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to,
                                          public_key, signature)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
          [
            site,
            d.day,
            firstNo,
            dayLast,
            count,
            previous,
            headHash,
            d.span_from,
            d.span_to,
            checkpoint.publicKey,
            checkpoint.signature,
          ],
        );
        made.push(checkpoint);
        lastNo = dayLast;
        previous = headHash;
      }
      return made;
    });
  }
}

/**
 * Deletes the chain rows of signed days before `day` (YYYY-MM-DD), in every chain; their
 * checkpoints stay, so the rows after them verify from the signed heads. Only rows whose sources
 * are gone (deleted by retention or an erasure) go: a chain stops being pruned at the signed day
 * before its first row whose event, alarm or staff action is still stored, which its link keeps
 * protecting. Returns rows deleted and, per chain, the highest row number deleted (recorded in
 * the prune's audit entry: verify expects each chain to start right after it).
 */
export async function pruneSignedDays(
  pool: Queryable,
  day: string,
): Promise<{ deleted: number; bounds: Record<string, number> }> {
  // The erasure listing of pruned rows goes with them: nothing is left to verify against it.
  const result = await pool.query<{ n: number; bounds: Record<string, number> | null }>(
    `WITH before AS (
       SELECT site, max(last_no) AS last_no FROM audit_checkpoints WHERE day < $1::date GROUP BY site
     ), live AS (
       SELECT b.site, b.last_no,
              (SELECT min(c.no) FROM audit_chain c
                WHERE c.site = b.site AND c.no <= b.last_no
                  AND CASE c.source
                        WHEN 'event' THEN EXISTS (SELECT 1 FROM events e WHERE e.id = c.ref::uuid AND e.occurred_at = c.at)
                        WHEN 'alarm' THEN EXISTS (SELECT 1 FROM alarms a WHERE a.id = c.ref::bigint)
                        ELSE EXISTS (SELECT 1 FROM audit_log l WHERE l.id = c.ref::bigint)
                      END) AS first_live
         FROM before b
     ), signed AS (
       SELECT l.site,
              CASE WHEN l.first_live IS NULL THEN l.last_no
                   ELSE (SELECT max(k.last_no) FROM audit_checkpoints k
                          WHERE k.site = l.site AND k.last_no < l.first_live) END AS last_no
         FROM live l
     ), pruned AS (
       DELETE FROM audit_chain c USING signed k WHERE c.site = k.site AND c.no <= k.last_no RETURNING 1
     ), unlisted AS (
       DELETE FROM erased_chain_rows x USING signed k WHERE x.site = k.site AND x.no <= k.last_no
     )
     SELECT (SELECT count(*)::int FROM pruned) AS n,
            (SELECT jsonb_object_agg(s.site, s.last_no) FROM signed s WHERE s.last_no IS NOT NULL) AS bounds`,
    [day],
  );
  const row = result.rows[0];
  return {
    deleted: row?.n ?? 0,
    bounds: Object.fromEntries(Object.entries(row?.bounds ?? {}).map(([site, no]) => [site, Number(no)])),
  };
}
