import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { Pool } from 'pg';
import { exportPublicKey, importPublicKey } from '../../protocol/signing.js';
import type { Queryable } from '../storage/event-store.js';
import { withTransaction } from '../storage/transaction.js';
import { writeAudit } from './audit-log.js';
import { lockChain } from './chain-lock.js';

/**
 * Where each chain stood when the current central key took over from the keys it retired: the
 * last checkpoint of every chain (its row number and head), signed by the current key into the
 * audit log (`keys.signing.handover`, by `system`) at the first start that retires a key. A
 * retired key's checkpoint counts only up to that point (chain-verifier.ts): whoever holds a
 * retired key and can write to the database cannot delete the current key's checkpoints and put
 * their own in their place, since the handover names the head the chain had, and deleting the
 * handover leaves the retired key's checkpoints unproven. Checkpoints a retired key made after
 * the handover (an instance left on it) are refused too: `audit checkpoint --resign-after` signs
 * such days anew.
 */
export interface ChainHandover {
  lastNo: number;
  head: string;
}

/** Each chain's state at the handover, and when it was recorded (signed: it cannot be back-dated). */
export interface Handover {
  chains: ReadonlyMap<string, ChainHandover>;
  at: string;
}

interface HandoverFields {
  publicKey: string;
  at: string;
  chains: Array<{ site: string; lastNo: number; head: string }>;
}

function handoverText(fields: HandoverFields): string {
  return JSON.stringify({
    type: 'identgate-key-handover',
    v: 1,
    publicKey: fields.publicKey,
    at: fields.at,
    chains: fields.chains.map((c) => ({ site: c.site, lastNo: c.lastNo, head: c.head })),
  });
}

/** The central key the audit log last recorded as in use (`keys.signing.in-use`), if any. */
export async function keyInUse(db: Queryable): Promise<string | undefined> {
  const newest = await db.query<{ key: string | null }>(
    `SELECT details ->> 'publicKey' AS key FROM audit_log
      WHERE action = 'keys.signing.in-use' ORDER BY audit_log.id DESC LIMIT 1`,
  );
  return newest.rows[0]?.key ?? undefined;
}

/** The current key's handover, if one is recorded and its signature holds. */
export async function readHandover(db: Queryable, current: string): Promise<Handover | undefined> {
  const rows = await db.query<{ details: Partial<HandoverFields> & { signature?: unknown } }>(
    `SELECT details FROM audit_log
      WHERE action = 'keys.signing.handover' AND details ->> 'publicKey' = $1
      ORDER BY audit_log.id DESC`,
    [current],
  );
  const key = importPublicKey(current);
  for (const { details } of rows.rows) {
    const chains = Array.isArray(details.chains) ? details.chains : undefined;
    if (!chains || typeof details.signature !== 'string' || typeof details.at !== 'string') continue;
    const text = handoverText({ publicKey: current, at: details.at, chains });
    const signature = Buffer.from(details.signature, 'base64url');
    if (signature.length === 64 && verify(null, Buffer.from(text), key, signature))
      return {
        at: details.at,
        chains: new Map(chains.map((c) => [c.site, { lastNo: Number(c.lastNo), head: String(c.head) }])),
      };
  }
  return undefined;
}

/**
 * Records, signed by `signingKey`, where every chain stands now (its last checkpoint), holding
 * every chain's lock so that no checkpoint lands between the reading and the record.
 */
export async function writeHandover(
  pool: Pool,
  signingKey: KeyObject,
  by: { actor: string; at?: Date | undefined } = { actor: 'system' },
): Promise<Handover> {
  return withTransaction(pool, async (db) => {
    const sites = await db.query<{ site: string }>(
      `SELECT DISTINCT site FROM audit_checkpoints ORDER BY site`,
    );
    for (const { site } of sites.rows) await lockChain(db, site);
    return recordHandover(db, signingKey, by);
  });
}

async function recordHandover(
  db: Queryable,
  signingKey: KeyObject,
  by: { actor: string; at?: Date | undefined },
): Promise<Handover> {
  const { at } = by;
  const publicKey = exportPublicKey(createPublicKey(signingKey));
  const last = await db.query<{ site: string; last_no: string; head: Buffer }>(
    `SELECT DISTINCT ON (site) site, last_no, head FROM audit_checkpoints ORDER BY site, last_no DESC`,
  );
  const chains = last.rows.map((r) => ({
    site: r.site,
    lastNo: Number(r.last_no),
    head: r.head.toString('hex'),
  }));
  const when = (at ?? new Date()).toISOString();
  const text = handoverText({ publicKey, at: when, chains });
  const signature = sign(null, Buffer.from(text), signingKey).toString('base64url');
  await writeAudit(
    db,
    { actor: by.actor, action: 'keys.signing.handover', details: { publicKey, at: when, chains, signature } },
    at,
  );
  return { at: when, chains: new Map(chains.map((c) => [c.site, { lastNo: c.lastNo, head: c.head }])) };
}
