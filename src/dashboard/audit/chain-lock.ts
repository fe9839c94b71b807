import type { Queryable } from '../storage/event-store.js';

/**
 * Takes a chain's lock for the rest of `db`'s transaction: the lock the chain's appenders take in
 * SQL (identgate_chain_append), so a row being written for a day lands before its checkpoint is
 * read, and checkpointing, signing anew and the handover never interleave on one chain.
 */
export async function lockChain(db: Queryable, site: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtextextended('identgate-chain:' || $1, 0))`, [site]);
}
