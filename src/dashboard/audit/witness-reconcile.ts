import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { withTransaction } from '../storage/transaction.js';
import { writeAudit } from './audit-log.js';
import { type CentralKeyHistory, centralKeyFor } from './central-keys.js';
import { listCheckpoints } from './chain-checkpoints.js';
import { type Checkpoint, ZERO_HASH } from './chain-links.js';
import { appendWitness, compareJudged, readWitness, trustedLines } from './checkpoint-witness.js';
import { readHandover } from './key-handover.js';

/** The incident raised while the database disagrees with the witness. */
export const WITNESS_MISMATCH_KEY = 'audit-witness-mismatch';
/** The condition raised while the witness cannot be read or written. */
export const WITNESS_UNWRITABLE_KEY = 'audit-witness-unwritable';

export interface WitnessOutcome {
  problems: string[];
  /** Checkpoints appended to the witness. */
  appended: number;
  /** Witnessed checkpoints put back into the database, which had lost them. */
  restored: Checkpoint[];
  matched: number;
}

export interface WitnessReconcilerOptions {
  pool: Pool;
  file: string;
  /**
   * The central keys: witnessed lines count only when one of them signed them for their day.
   * Without them (an instance without keys.signing) lines are compared by content alone, and
   * none is put back into the database.
   */
  keys?: CentralKeyHistory;
  alarms: Pick<AlarmStore, 'raiseCentralUnlessOpen' | 'raiseCentral' | 'clearCentral'>;
  alarmsChanged?: (alarms: AlarmView[]) => void;
  log: Logger;
}

/**
 * Keeps the witness and the database in step, run by the checkpoint job before and after it
 * signs: checkpoints the database has of days after the witness's newest are appended; a
 * witnessed checkpoint the database lost is put back (it is signed by a trusted central key, so
 * `audit verify` then measures the chain against it, and audited as `audit.witness.restored`);
 * any other difference raises the critical incident `audit-witness-mismatch`. A witness that
 * cannot be read or written raises the warning `audit-witness-unwritable`, cleared by the next run
 * that succeeds.
 */
export class WitnessReconciler {
  constructor(private readonly options: WitnessReconcilerOptions) {}

  async reconcile(): Promise<WitnessOutcome> {
    const { pool, file, keys, log } = this.options;
    const outcome: WitnessOutcome = { problems: [], appended: 0, restored: [], matched: 0 };
    let reading: Awaited<ReturnType<typeof readWitness>>;
    try {
      reading = await readWitness(file);
    } catch (error) {
      await this.unwritable(`the witness ${file} cannot be read: ${(error as Error).message}`);
      throw error;
    }
    let stored = await listCheckpoints(pool);
    // Each line's signature checked once: an Ed25519 verification per witnessed day and chain.
    const lines = trustedLines(reading.checkpoints, keys);
    const signer = keys ? await soundSigner(pool, keys) : undefined;
    const missing = signer ? await restorable(pool, lines.trusted.filter(signer), stored) : [];
    if (missing.length > 0) {
      outcome.restored = await restore(pool, missing);
      for (const c of outcome.restored)
        log.error(
          { site: c.site, day: c.day },
          'audit: a witnessed checkpoint was missing from the database and is put back',
        );
      stored = await listCheckpoints(pool);
    }
    const comparison = compareJudged(lines, stored);
    // Only what the keys soundly signed is witnessed: an unsigned row slipped into the database
    // must not stay in the witness (and its alarm) after it is gone from there.
    const newer = signer ? comparison.newer.filter(signer) : comparison.newer;
    const unsigned = signer ? comparison.newer.filter((c) => !signer(c)) : [];
    outcome.problems = [
      ...reading.problems,
      ...comparison.problems,
      ...unsigned.map(
        (c) =>
          `checkpoint of chain ${c.site} for ${c.day} in the database is signed by no key trusted for it (or by a retired key beyond the handover): not witnessed`,
      ),
    ];
    outcome.matched = comparison.matched;
    try {
      await appendWitness(file, newer);
      outcome.appended = newer.length;
    } catch (error) {
      await this.unwritable(`the witness ${file} cannot be written: ${(error as Error).message}`);
      throw error;
    }
    await this.change(() => this.options.alarms.clearCentral(WITNESS_UNWRITABLE_KEY, null, null));
    const raised = [...outcome.restored.map((c) => `restored: ${c.site} ${c.day}`), ...outcome.problems];
    if (raised.length > 0) {
      for (const problem of outcome.problems)
        log.error({ problem }, 'audit: the database disagrees with the witness');
      await this.change(() =>
        this.options.alarms.raiseCentralUnlessOpen({
          alarm: 'audit-witness-mismatch',
          key: WITNESS_MISMATCH_KEY,
          severity: 'critical',
          detail:
            `the audit checkpoints in the database disagree with the witness ${file}: ${raised.join('; ')}`.slice(
              0,
              2000,
            ),
        }),
      );
    }
    return outcome;
  }

  private async unwritable(detail: string): Promise<void> {
    this.options.log.error({ file: this.options.file }, detail);
    await this.change(() =>
      this.options.alarms.raiseCentral({
        alarm: 'audit-witness-unwritable',
        key: WITNESS_UNWRITABLE_KEY,
        severity: 'warning',
        detail: detail.slice(0, 2000),
      }),
    );
  }

  private async change(work: () => Promise<AlarmView[]>): Promise<void> {
    try {
      const changed = await work();
      if (changed.length > 0) this.options.alarmsChanged?.(changed);
    } catch (error) {
      this.options.log.error({ err: error }, 'audit witness alarm could not be changed');
    }
  }
}

/**
 * Whether a checkpoint (whose signature trustedLines has checked) may stand: by the current key,
 * or by a retired key trusted for its day and only up to where the handover says the current
 * key took its chain over — the checkpoint job's own rule, so that a leaked retired key cannot
 * have a checkpoint far ahead in a chain witnessed or put back, which would stop the chain from
 * being signed on.
 */
async function soundSigner(pool: Pool, keys: CentralKeyHistory): Promise<(c: Checkpoint) => boolean> {
  const handover = keys.current ? await readHandover(pool, keys.current) : undefined;
  return (c) => {
    const which = centralKeyFor(keys, c.publicKey, c.day);
    if (which === 'current') return true;
    if (which !== 'retired') return false;
    const handed = handover?.chains.get(c.site);
    return handed !== undefined && c.lastNo <= handed.lastNo;
  };
}

/**
 * Of the trusted witnessed checkpoints whose chain and day the database holds none of, those
 * that fit where they belong (in chain order, each counting once put back): right after the
 * stored checkpoint before them (rows and hash), right before the one after them, overlapping
 * none, and within the rows the chain holds. One that does not fit is left to the mismatch
 * alarm: putting it back could only stop the chain from being signed on.
 */
async function restorable(
  pool: Pool,
  trusted: readonly Checkpoint[],
  stored: readonly Checkpoint[],
): Promise<Checkpoint[]> {
  const have = new Set(stored.map((c) => `${c.site} ${c.day}`));
  const candidates = new Map<string, Checkpoint>();
  for (const c of trusted) {
    const key = `${c.site} ${c.day}`;
    if (!have.has(key) && !candidates.has(key)) candidates.set(key, c);
  }
  if (candidates.size === 0) return [];
  const rows = await pool.query<{ site: string; last: string }>(
    'SELECT site, max(no) AS last FROM audit_chain WHERE site = ANY($1) GROUP BY site',
    [[...new Set([...candidates.values()].map((c) => c.site))]],
  );
  const lastRow = new Map(rows.rows.map((r) => [r.site, Number(r.last)]));
  const chain = [...stored];
  const out: Checkpoint[] = [];
  const ordered = [...candidates.values()].sort((a, b) =>
    a.site === b.site ? a.lastNo - b.lastNo : a.site < b.site ? -1 : 1,
  );
  for (const c of ordered) {
    if (
      !fits(
        c,
        chain.filter((s) => s.site === c.site),
        lastRow.get(c.site),
      )
    )
      continue;
    out.push(c);
    chain.push(c);
  }
  return out;
}

function fits(c: Checkpoint, site: readonly Checkpoint[], lastRow: number | undefined): boolean {
  if (lastRow === undefined || c.lastNo > lastRow || c.firstNo > c.lastNo) return false;
  if (site.some((s) => s.firstNo <= c.lastNo && c.firstNo <= s.lastNo)) return false;
  const before = site.filter((s) => s.lastNo < c.firstNo).sort((a, b) => b.lastNo - a.lastNo)[0];
  const after = site.filter((s) => s.firstNo > c.lastNo).sort((a, b) => a.firstNo - b.firstNo)[0];
  const prev = before ? { no: before.lastNo, head: before.head } : { no: 0, head: ZERO_HASH.toString('hex') };
  if (c.firstNo !== prev.no + 1 || c.prevHash !== prev.head) return false;
  return !after || (after.firstNo === c.lastNo + 1 && after.prevHash === c.head);
}

/** Puts checkpoints back as they were signed, in one transaction; audited. */
async function restore(pool: Pool, checkpoints: readonly Checkpoint[]): Promise<Checkpoint[]> {
  return withTransaction(pool, async (db) => {
    const restored: Checkpoint[] = [];
    for (const c of checkpoints) {
      const result = await db.query(
        `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to,
                                        public_key, signature)
         VALUES ($1, $2, $3, $4, $5, decode($6, 'hex'), decode($7, 'hex'), $8, $9, $10, $11)
         ON CONFLICT DO NOTHING`,
        [
          c.site,
          c.day,
          c.firstNo,
          c.lastNo,
          c.count,
          c.prevHash,
          c.head,
          c.from,
          c.to,
          c.publicKey,
          c.signature,
        ],
      );
      if (result.rowCount === 1) restored.push(c);
    }
    if (restored.length > 0)
      await writeAudit(db, {
        actor: 'system',
        action: 'audit.witness.restored',
        details: { checkpoints: restored.map((c) => ({ site: c.site, day: c.day, head: c.head })) },
      });
    return restored;
  });
}
