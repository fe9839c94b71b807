import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import { exportPublicKey } from '../../protocol/signing.js';
import { withTransaction } from '../storage/transaction.js';
import { writeAudit } from './audit-log.js';
import type { RetiredKey } from './central-keys.js';
import { listCheckpoints } from './chain-checkpoints.js';
import { type Checkpoint, signCheckpoint } from './chain-links.js';
import { lockChain } from './chain-lock.js';
import { verifyChains } from './chain-verifier.js';
import { readHandover } from './key-handover.js';

/**
 * `identgate audit checkpoint --resign-after <day>`: the way forward when a central key that
 * leaked is retired with a `lastDay` before its last use. Its checkpoints of later days are no
 * longer trusted, and `audit verify` would stop at the first of them for good. Each chain holding
 * such checkpoints is first verified as it stands — rows, links, and every checkpoint against the
 * key it names — and only a chain that verifies has its checkpoints of days after `afterDay` not
 * signed by the current key signed anew by it (same fields, new key and signature), in one
 * transaction under the chain's lock, audited as `audit.checkpoints.resign` with the keys and
 * signatures replaced. What those days hold is then vouched for by the current key as far as the
 * database can be trusted for them: the operator's judgement (docs/security.md).
 */
export interface ResignOutcome {
  site: string;
  /** The days signed anew; empty when the chain did not verify (`problem`). */
  days: string[];
  problem?: string;
}

export async function resignCheckpoints(
  pool: Pool,
  signingKey: KeyObject,
  retired: readonly RetiredKey[],
  afterDay: string,
  actor: string,
): Promise<ResignOutcome[]> {
  const publicKey = createPublicKey(signingKey);
  const current = exportPublicKey(publicKey);
  const handover = await readHandover(pool, current);
  const isRetired = (key: string) => retired.some((r) => r.publicKey === key);
  // A retired key's checkpoints of later days, or beyond where it handed the chain over (one an
  // instance still on it made after the handover); never a key the configuration does not retire.
  const due = (c: Checkpoint) =>
    isRetired(c.publicKey) &&
    (c.day > afterDay || c.lastNo > (handover?.chains.get(c.site)?.lastNo ?? Number.POSITIVE_INFINITY));
  const all = await listCheckpoints(pool);
  const sites = [...new Set(all.filter(due).map((c) => c.site))];
  const outcomes: ResignOutcome[] = [];
  for (const site of sites) {
    const foreign = all.find((c) => c.site === site && c.publicKey !== current && !isRetired(c.publicKey));
    if (foreign) {
      outcomes.push({
        site,
        days: [],
        problem: `checkpoint ${foreign.day} is signed by ${foreign.publicKey}, neither keys.signing nor a key it retires`,
      });
      continue;
    }
    // As it stands, each checkpoint by the key it names: the structure must hold before we sign it.
    const report = await verifyChains(pool, { site });
    const mismatch = report.mismatch;
    if (!report.ok) {
      outcomes.push({ site, days: [], problem: mismatch?.problem ?? 'does not verify' });
      continue;
    }
    const days = await withTransaction(pool, async (db) => {
      await lockChain(db, site);
      const replaced = (await listCheckpoints(db, site)).filter(due);
      for (const c of replaced) {
        const { publicKey: _key, signature: _signature, ...fields } = c;
        const signed = signCheckpoint(fields, signingKey, publicKey);
        await db.query(
          `UPDATE audit_checkpoints SET public_key = $3, signature = $4 WHERE site = $1 AND day = $2::date`,
          [site, c.day, signed.publicKey, signed.signature],
        );
      }
      await writeAudit(db, {
        actor,
        action: 'audit.checkpoints.resign',
        target: site,
        details: {
          afterDay,
          publicKey: current,
          replaced: replaced.map((c) => ({ day: c.day, publicKey: c.publicKey, signature: c.signature })),
        },
      });
      return replaced.map((c) => c.day);
    });
    outcomes.push({ site, days });
  }
  return outcomes;
}
