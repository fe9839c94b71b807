import type { KeyObject } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import Cursor from 'pg-cursor';
import { exportPublicKey, importPublicKey } from '../../protocol/signing.js';
import { type CentralKeyHistory, centralKeyFor, type RetiredKey, untrustedKey } from './central-keys.js';
import { listCheckpoints } from './chain-checkpoints.js';
import {
  type Coverage,
  type CoveredRow,
  coversMissing,
  coversPresenceExpiry,
  coversUnlistedUserErasure,
  isErasureRedaction,
  loadCoverage,
} from './chain-coverage.js';
import { type Checkpoint, checkpointSignatureValid, linkHash, ZERO_HASH } from './chain-links.js';
import { inspectErasureListOnce } from './erasure-list.js';
import { type Handover, readHandover } from './key-handover.js';

/**
 * `identgate audit verify`: walks each chain from the database in order, recomputes every row's
 * content digest from its source row and every link, checks each day checkpoint's signature and
 * that the rows meet its head, and stops at the first row that does not match. A source row that
 * retention deleted is accepted only where the deletion log covers its site and time, one that an
 * erasure deleted or redacted only where the erasure listed it (chain-coverage.ts); rows retention
 * pruned before the first kept row are accepted only behind a signed checkpoint.
 */
export interface VerifyRequest {
  site?: string;
  /** Only rows that joined the chain in [from, to). */
  from?: Date;
  to?: Date;
  /** The central public key; without it each checkpoint is checked against the key it names. */
  publicKey?: KeyObject;
  /** Keys the central key replaced (keys.retiredSigning): each accepted for days up to its last. */
  retired?: readonly RetiredKey[];
}

/** The central keys a request trusts: none configured means each signature by the key it names. */
function requestKeys(request: VerifyRequest): CentralKeyHistory {
  const current = request.publicKey ? exportPublicKey(request.publicKey) : undefined;
  return { ...(current ? { current } : {}), retired: request.retired ?? [] };
}

export interface ChainSummary {
  site: string;
  rows: number;
  /** Rows whose source is gone under the deletion log. */
  expired: number;
  /**
   * Source rows an erasure or the presence retention rewrote: events whose companion an erasure
   * replaced, `workstation.*` entries whose user was replaced by `erased` or `expired`.
   */
  redacted: number;
  checkpoints: number;
  /** Rows after the last checkpoint (today's, not signed yet). */
  unsigned: number;
}

export interface Mismatch {
  site: string;
  no: number | null;
  source?: string;
  ref?: string;
  problem: string;
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainSummary[];
  mismatch?: Mismatch;
  /** How far the list of erased chain rows is proven (signed, unsigned, no central key). */
  erasureList?: string;
  /** When the chains were handed over to the current key (with retired keys configured). */
  handover?: string;
}

interface ChainRow extends CoveredRow {
  no: string;
  ref: string;
  digest: Buffer;
  hash: Buffer;
  actual: Buffer | null;
  /** A workstation entry whose user was replaced: 'erased' (erasure) or 'expired' (presence retention). */
  redacted: 'erased' | 'expired' | null;
}

const ROWS_SQL = `
  SELECT c.no, c.source, c.ref, c.at, c.added_at, c.digest, c.hash,
         x.site IS NOT NULL AS erased, x.redacted AS erased_digest,
         CASE c.source
           WHEN 'event' THEN (SELECT identgate_event_digest(e) FROM events e
                               WHERE e.id = c.ref::uuid AND e.occurred_at = c.at)
           WHEN 'alarm' THEN (SELECT identgate_alarm_digest(a) FROM alarms a WHERE a.id = c.ref::bigint)
           WHEN 'audit' THEN (SELECT identgate_audit_digest(l) FROM audit_log l WHERE l.id = c.ref::bigint)
         END AS actual,
         CASE WHEN c.source = 'audit' THEN
           (SELECT l.details ->> 'user' FROM audit_log l WHERE l.id = c.ref::bigint
              AND starts_with(l.action, 'workstation.') AND l.details ->> 'user' IN ('erased', 'expired'))
         END AS redacted
    FROM audit_chain c LEFT JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no
   WHERE c.site = $1 AND ($2::timestamptz IS NULL OR c.added_at >= $2) AND ($3::timestamptz IS NULL OR c.added_at < $3)
   ORDER BY c.no`;

export async function verifyChains(pool: Pool, request: VerifyRequest): Promise<VerifyReport> {
  const sites = request.site
    ? [request.site]
    : (
        await pool.query<{ site: string }>(
          'SELECT site FROM audit_chain UNION SELECT site FROM audit_checkpoints ORDER BY 1',
        )
      ).rows.map((r) => r.site);
  const coverage = await loadCoverage(pool);
  // What the list accepts holds only if the list is the one its last change recorded and signed.
  const list = await inspectErasureListOnce(pool, requestKeys(request));
  const erasureList = list.status;
  if (list.problem)
    return {
      ok: false,
      chains: [],
      erasureList,
      mismatch: { site: '_central', no: null, problem: list.problem },
    };
  const keys = requestKeys(request);
  const handover =
    keys.current && keys.retired.length > 0 ? await readHandover(pool, keys.current) : undefined;
  // Said with its signed time: a handover recorded long after the rotation was recorded again.
  const handedOver = handover
    ? { handover: `chains handed over to the current central key on ${handover.at} (keys.signing.handover)` }
    : {};
  const chains: ChainSummary[] = [];
  const client = await pool.connect();
  try {
    const pruned = await prunedUpTo(client);
    for (const site of sites) {
      const { summary, mismatch } = await verifyChain(client, site, request, coverage, handover, pruned);
      chains.push(summary);
      if (mismatch) return { ok: false, chains, erasureList, ...handedOver, mismatch };
    }
    const unchained = await unchainedSource(client, request);
    if (unchained) return { ok: false, chains, erasureList, ...handedOver, mismatch: unchained };
  } finally {
    client.release();
  }
  return { ok: true, chains, erasureList, ...handedOver };
}

/**
 * Why a site's checkpoints (in chain order) cannot be trusted, if they cannot: each signed validly
 * by a central key trusted for its day, continuing the one before it, dated after it, and none by
 * a retired key after one by the current key (the current key took over from it). So a key
 * retired after its last day cannot add a checkpoint, whatever day it writes into it.
 */
export function checkpointsProblem(
  all: readonly Checkpoint[],
  keys: CentralKeyHistory,
  /** Where the current key took over (key-handover.ts); undefined where none is recorded. */
  handover?: Handover | 'not-checked',
): string | undefined {
  let current: Checkpoint | undefined;
  for (const [i, c] of all.entries()) {
    const signer = keys.current ? centralKeyFor(keys, c.publicKey, c.day) : undefined;
    if (keys.current && !signer) return untrustedKey(keys, c.publicKey, `checkpoint ${c.day}`);
    if (signer === 'retired' && current)
      return `checkpoint ${c.day} is signed by the retired central key ${c.publicKey}, after checkpoint ${current.day} signed by the current one`;
    if (signer === 'retired' && handover !== 'not-checked') {
      const handed = handover?.chains.get(c.site);
      if (!handover)
        return `checkpoint ${c.day} is signed by the retired central key ${c.publicKey}, and no handover to the current key is recorded (a dashboard start with this configuration records it)`;
      if (!handed || c.lastNo > handed.lastNo || (c.lastNo === handed.lastNo && c.head !== handed.head))
        return `checkpoint ${c.day} is signed by the retired central key ${c.publicKey} beyond where the current key took the chain over (${handed ? `row ${handed.lastNo}` : 'no checkpoint yet'}): made after the handover, or put in place of the current key's`;
    }
    if (signer === 'current') current ??= c;
    if (!signatureValid(c))
      return `checkpoint ${c.day} (rows ${c.firstNo}–${c.lastNo}) has an invalid signature`;
    const before = all[i - 1];
    if (before && (before.lastNo + 1 !== c.firstNo || before.head !== c.prevHash))
      return `checkpoint ${c.day} does not continue checkpoint ${before.day}`;
    if (before && !(c.day > before.day && DAY.test(c.day)))
      return `checkpoint ${c.day} is not dated after checkpoint ${before.day} before it`;
  }
  return undefined;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A checkpoint's signature by the key it names; a key that is no Ed25519 key signs nothing. */
function signatureValid(c: Checkpoint): boolean {
  try {
    return checkpointSignatureValid(c, importPublicKey(c.publicKey));
  } catch {
    return false;
  }
}

async function verifyChain(
  client: PoolClient,
  site: string,
  request: VerifyRequest,
  coverage: Coverage,
  handover: Handover | undefined,
  pruned: PrunedUpTo,
): Promise<{ summary: ChainSummary; mismatch?: Mismatch }> {
  const all = await listCheckpoints(client, site);
  const inRange = all.filter(
    (c) =>
      (!request.from || new Date(c.to) >= request.from) && (!request.to || new Date(c.from) < request.to),
  );
  const summary: ChainSummary = {
    site,
    rows: 0,
    expired: 0,
    redacted: 0,
    checkpoints: inRange.length,
    unsigned: 0,
  };
  const fail = (problem: string, row?: ChainRow) => ({
    summary,
    mismatch: row
      ? { site, no: Number(row.no), source: row.source, ref: row.ref, problem }
      : { site, no: null, problem },
  });
  // Every checkpoint, not only those of the range: any of them may bridge rows the range reads.
  const problem = checkpointsProblem(all, requestKeys(request), handover);
  if (problem) return fail(problem);
  const endingAt = new Map(all.map((c) => [c.lastNo, c]));
  const startingAt = new Map(all.map((c) => [c.firstNo, c]));
  const lastSigned = all.at(-1)?.lastNo ?? 0;
  const cursor = client.query(
    new Cursor<ChainRow>(ROWS_SQL, [site, request.from ?? null, request.to ?? null]),
  );
  try {
    let previous: { no: number; hash: Buffer } | undefined;
    for (let rows = await cursor.read(2000); rows.length > 0; rows = await cursor.read(2000)) {
      for (const row of rows) {
        const no = Number(row.no);
        let prevHash: Buffer | undefined;
        if (previous && previous.no + 1 === no) prevHash = previous.hash;
        else if (no === 1) prevHash = ZERO_HASH;
        else if (!previous && !request.from && pruned !== 'unknown' && no > (pruned.get(site) ?? 0) + 1) {
          const upTo = pruned.get(site);
          return fail(
            `rows ${(upTo ?? 0) + 1}–${no - 1} are missing: ${upTo === undefined ? 'audit prune never deleted rows of this chain' : `audit prune deleted its rows up to ${upTo} only`}`,
            row,
          );
        } else {
          // Only before the first row read: `audit prune` deletes a chain's oldest rows, never a middle.
          const checkpoint = previous ? undefined : endingAt.get(no - 1);
          if (checkpoint) prevHash = Buffer.from(checkpoint.head, 'hex');
          else if (!previous) prevHash = await hashOf(client, site, no - 1);
          if (!prevHash) {
            return fail(
              previous
                ? `rows ${previous.no + 1}–${no - 1} are missing and no checkpoint covers them`
                : `row ${no - 1} is missing and no checkpoint ends there`,
              row,
            );
          }
        }
        const starting = startingAt.get(no);
        if (starting && starting.prevHash !== prevHash.toString('hex')) {
          return fail(`does not follow the head signed in checkpoint ${starting.day}`, row);
        }
        if (!linkHash(prevHash, row.digest).equals(row.hash)) {
          return fail('link hash does not match sha256(previous link || digest)', row);
        }
        if (row.actual === null) {
          if (!coversMissing(coverage, site, row)) {
            return fail(`its ${row.source} row is missing and no deletion log entry covers it`, row);
          }
          summary.expired += 1;
        } else if (!row.actual.equals(row.digest)) {
          // An event or audit entry an erasure rewrote must be exactly as it left it. Old
          // erasures replaced workstation users without listing them: the rest of such an entry
          // is no longer provable, which the summary says.
          const excused =
            isErasureRedaction(row, row.actual) ||
            (row.redacted === 'erased' && coversUnlistedUserErasure(coverage, row)) ||
            (row.redacted === 'expired' && coversPresenceExpiry(coverage, row.at));
          if (!excused) {
            return fail(`its ${row.source} row was changed (content digest differs)`, row);
          }
          summary.redacted += 1;
        }
        const ending = endingAt.get(no);
        if (ending && ending.head !== row.hash.toString('hex')) {
          return fail(`does not match the head signed in checkpoint ${ending.day}`, row);
        }
        if (no > lastSigned) summary.unsigned += 1;
        summary.rows += 1;
        previous = { no, hash: row.hash };
      }
    }
  } finally {
    await cursor.close();
  }
  return { summary };
}

/**
 * A stored event, alarm or staff action without its chain row: written with the chain's trigger
 * disabled, or left behind when its chain row was deleted. The walk above sees only what the
 * chain holds, so such a row would otherwise pass unseen (and `audit prune` deletes only chain
 * rows whose sources are gone). Each source is looked for by its own time within the range.
 */
async function unchainedSource(client: PoolClient, request: VerifyRequest): Promise<Mismatch | undefined> {
  const listProblem = await unchainedListProblem(client);
  if (listProblem) return { site: '_central', no: null, problem: listProblem };
  const range = [request.site ?? null, request.from ?? null, request.to ?? null];
  const { rows } = await client.query<{ site: string; source: string; ref: string }>(UNCHAINED_SQL, range);
  const found = rows[0];
  if (!found) return undefined;
  return {
    site: found.site,
    no: null,
    source: found.source,
    ref: found.ref,
    problem: `${found.source} ${found.ref} is stored but has no row in its chain: written past the chain (its trigger disabled), or its chain row deleted while it still existed`,
  };
}

/**
 * Why the list of sources stored without a chain row at the upgrade to schema 37 cannot be
 * trusted, if it cannot: a non-empty list must be the one its single, chained staff action
 * (`audit.chain.unchained-recorded`) recorded, by count and SHA-256. An empty list needs none.
 */
export async function unchainedListProblem(client: Pick<PoolClient, 'query'>): Promise<string | undefined> {
  const { rows } = await client.query<{ n: string; sha256: string; recorded: unknown[] }>(
    `SELECT (SELECT count(*) FROM chain_unchained_at_upgrade) AS n,
            identgate_unchained_list_digest() AS sha256,
            coalesce((SELECT jsonb_agg(jsonb_build_object('details', l.details, 'chained',
                                EXISTS (SELECT 1 FROM audit_chain c WHERE c.source = 'audit' AND c.ref = l.id::text))
                              ORDER BY l.id)
                        FROM audit_log l WHERE l.action = 'audit.chain.unchained-recorded'), '[]'::jsonb) AS recorded`,
  );
  const { n = '0', sha256 = '', recorded = [] } = rows[0] ?? {};
  if (Number(n) === 0) return undefined;
  const entries = recorded as Array<{ details: { rows?: unknown; sha256?: unknown }; chained: boolean }>;
  const [entry] = entries;
  const what = `the list of sources stored without a chain row at the upgrade (chain_unchained_at_upgrade, ${n} rows)`;
  if (entries.length !== 1 || !entry)
    return `${what} must be recorded by exactly one audit.chain.unchained-recorded entry; ${entries.length} found`;
  if (!entry.chained) return `${what}: its audit.chain.unchained-recorded entry has no row in the chain`;
  if (Number(entry.details.rows) !== Number(n) || entry.details.sha256 !== sha256)
    return `${what} is not the list its audit.chain.unchained-recorded entry recorded (${String(entry.details.rows)} rows, SHA-256 ${String(entry.details.sha256)}; now ${sha256})`;
  return undefined;
}

const IN_RANGE = (column: string) =>
  `($2::timestamptz IS NULL OR ${column} >= $2) AND ($3::timestamptz IS NULL OR ${column} < $3)`;
const UNCHAINED_SQL = `
  (SELECT e.site, 'event' AS source, e.id::text AS ref FROM events e
    WHERE ($1::text IS NULL OR e.site = $1) AND ${IN_RANGE('e.occurred_at')}
      AND NOT EXISTS (SELECT 1 FROM audit_chain c
                       WHERE c.source = 'event' AND c.ref = e.id::text AND c.at = e.occurred_at)
      AND NOT EXISTS (SELECT 1 FROM chain_unchained_at_upgrade u
                       WHERE u.source = 'event' AND u.ref = e.id::text AND u.at = e.occurred_at)
    LIMIT 1)
  UNION ALL
  (SELECT coalesce(a.site, '_central'), 'alarm', a.id::text FROM alarms a
    WHERE ($1::text IS NULL OR coalesce(a.site, '_central') = $1) AND ${IN_RANGE('a.raised_at')}
      AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.source = 'alarm' AND c.ref = a.id::text)
      AND NOT EXISTS (SELECT 1 FROM chain_unchained_at_upgrade u WHERE u.source = 'alarm' AND u.ref = a.id::text)
    LIMIT 1)
  UNION ALL
  (SELECT '_central', 'audit', l.id::text FROM audit_log l
    WHERE ($1::text IS NULL OR $1 = '_central') AND ${IN_RANGE('l.at')}
      AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.source = 'audit' AND c.ref = l.id::text)
      AND NOT EXISTS (SELECT 1 FROM chain_unchained_at_upgrade u WHERE u.source = 'audit' AND u.ref = l.id::text)
    LIMIT 1)
  LIMIT 1`;

/**
 * Where `audit prune` left each chain: the highest row number any prune deleted, from the bounds
 * its audit entries record; 'unknown' where a prune from before schema 37 recorded none, whose
 * chains are then accepted from any checkpoint as before. A chain's rows before its first are
 * gone only by a prune: the walk expects the first row right after the recorded bound.
 */
type PrunedUpTo = Map<string, number> | 'unknown';

async function prunedUpTo(client: PoolClient): Promise<PrunedUpTo> {
  const { rows } = await client.query<{ bounds: Record<string, unknown> | null }>(
    `SELECT details -> 'bounds' AS bounds FROM audit_log WHERE action = 'audit.chain.prune' ORDER BY id`,
  );
  const upTo = new Map<string, number>();
  for (const { bounds } of rows) {
    if (bounds === null || typeof bounds !== 'object') return 'unknown';
    for (const [site, no] of Object.entries(bounds))
      if (typeof no === 'number') upTo.set(site, Math.max(upTo.get(site) ?? 0, no));
  }
  return upTo;
}

async function hashOf(client: PoolClient, site: string, no: number): Promise<Buffer | undefined> {
  const result = await client.query<{ hash: Buffer }>(
    'SELECT hash FROM audit_chain WHERE site = $1 AND no = $2',
    [site, no],
  );
  return result.rows[0]?.hash;
}

/** One line per chain and the verdict, for the command line. */
export function formatVerifyReport(report: VerifyReport): string[] {
  const lines = report.chains.map(
    (c) =>
      `${c.site}: ${c.rows} rows verified (${c.expired} with their data deleted under retention${c.redacted > 0 ? `, ${c.redacted} entries an erasure or the presence retention redacted` : ''}), ${c.checkpoints} checkpoints, ${c.unsigned} rows not yet checkpointed`,
  );
  if (report.chains.length === 0 && !report.mismatch) lines.push('no chain rows in that range');
  if (report.erasureList) lines.push(report.erasureList);
  if (report.handover) lines.push(report.handover);
  const m = report.mismatch;
  if (m) {
    const where = m.no === null ? '' : ` row ${m.no}${m.source ? ` (${m.source} ${m.ref})` : ''}`;
    lines.push(`MISMATCH in chain ${m.site}${where}: ${m.problem}`);
  } else lines.push('OK: every chain verifies');
  return lines;
}

export type { Checkpoint };
