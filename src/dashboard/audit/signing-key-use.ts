import type { KeyObject } from 'node:crypto';
import type { Pool } from 'pg';
import type { KeyRing } from '../../lib/key-ring.js';
import type { Logger } from '../../lib/logger.js';
import { prepareTombstoneKey } from '../retention/tombstone-key.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { writeAudit } from './audit-log.js';
import { type CentralKeyHistory, centralKeyFor } from './central-keys.js';
import { signErasureListAtStart } from './erasure-list.js';
import { keyInUse, readHandover, writeHandover } from './key-handover.js';

/**
 * The keys of the audit trail and of erasures, at a dashboard's start: the tombstones' key sealed,
 * the erased-rows list signed (or said why not), the signing key checked against the checkpoints
 * and audited when it changed (checkSigningKeyAtStart below).
 */
export async function prepareAuditKeys(options: {
  pool: Pool;
  masterKeys: KeyRing | undefined;
  signingKey: KeyObject | undefined;
  history: CentralKeyHistory;
  alarms: AlarmStore;
  alarmsChanged: (changed: AlarmView[]) => void;
  at: Date;
  log: Logger;
}): Promise<void> {
  const { pool, masterKeys, signingKey, history, alarms, at, log } = options;
  await prepareTombstoneKey(pool, masterKeys, log);
  await signErasureListAtStart(pool, signingKey, log, at, history.retired);
  if (signingKey)
    options.alarmsChanged((await checkSigningKeyAtStart(pool, signingKey, history, alarms, log, at)).changed);
}

/** The key of the warning raised while checkpoints are signed by a key not trusted for them. */
export const NOT_RETIRED_KEY = 'central-key-not-retired';

/**
 * At a dashboard's start, the central signing key it uses is checked against what the database
 * shows was signed before, and a change of key is audited:
 *
 * - `keys.signing.in-use` (by `system`, details `publicKey`, and `previous` when the key changed)
 *   is written when this key is not the one the newest such entry names: the audit log says when
 *   each key came into use. Instances switched one after the other during a rotation may write it
 *   more than once; each entry is true when written.
 * - Day checkpoints signed by a key that is neither `keys.signing` nor retired for their day
 *   (`keys.retiredSigning`) would fail `audit verify`: the start says so, naming the key and the
 *   `lastDay` that would cover them, in its log and in a warning `central-key-not-retired` on the
 *   dashboard (cleared by a start that finds none), so a rotation done without step 3 of the
 *   procedure is noticed at once rather than at the next audit or erasure.
 *
 * Neither stops the start: the doors and the ingest do not depend on it. Returns the problems
 * found (also logged as errors).
 */
export async function checkSigningKeyAtStart(
  pool: Pool,
  signingKey: KeyObject,
  keys: CentralKeyHistory,
  alarms: Pick<AlarmStore, 'raiseCentral' | 'clearCentral'>,
  log: Logger,
  at?: Date,
): Promise<{ problems: string[]; changed: AlarmView[] }> {
  const current = keys.current;
  if (!current) return { problems: [], changed: [] };
  const previous = await keyInUse(pool);
  const replaced = previous && previous !== current ? await replacedBy(pool, keys, previous) : undefined;
  const handover = replaced ? undefined : await ensureHandover(pool, signingKey, keys, log, at);
  const problems = replaced
    ? [replaced]
    : [...(await untrustedCheckpoints(pool, keys)), ...(handover ? [handover] : [])];
  for (const problem of problems) log.error({ problem }, 'central signing key: checkpoints not covered');
  const changed =
    problems.length > 0
      ? await alarms.raiseCentral({
          alarm: 'central-key-not-retired',
          key: NOT_RETIRED_KEY,
          severity: 'warning',
          detail: problems.join('; ').slice(0, 2000),
        })
      : await alarms.clearCentral(NOT_RETIRED_KEY, null, null);
  // An instance on a key already replaced records nothing: the key in use stays the newer one.
  if (previous !== current && !replaced) {
    const retired = keys.retired.find((r) => r.publicKey === previous);
    await writeAudit(
      pool,
      {
        actor: 'system',
        action: 'keys.signing.in-use',
        details: {
          publicKey: current,
          ...(previous ? { previous } : {}),
          ...(retired ? { previousLastDay: retired.lastDay } : {}),
        },
      },
      at,
    );
    log.info({ publicKey: current, previous }, 'central signing key in use recorded in the audit log');
  }
  return { problems, changed };
}

/**
 * With retired keys, the handover to the current key (key-handover.ts): recorded at a start
 * that finds none — but only up to the day after the last retired key's lastDay. Later, a
 * missing handover was deleted (or never made), and recording where the chains stand now would
 * sign whatever was done to them meanwhile: the start says so instead, and the operator records
 * it deliberately (`identgate audit handover`) after checking the database. Returns the problem.
 */
async function ensureHandover(
  pool: Pool,
  signingKey: KeyObject,
  keys: CentralKeyHistory,
  log: Logger,
  at?: Date,
): Promise<string | undefined> {
  if (keys.retired.length === 0 || (await readHandover(pool, keys.current as string))) return undefined;
  const lastDay = keys.retired
    .map((r) => r.lastDay)
    .sort()
    .at(-1) as string;
  const fresh = await pool.query<{ fresh: boolean }>(
    `SELECT (now() AT TIME ZONE 'UTC')::date <= $1::date + 1 AS fresh`,
    [lastDay],
  );
  if (!fresh.rows[0]?.fresh)
    return `no handover to the current central key is recorded, and the last retired key's last day (${lastDay}) is past: audit verify refuses the retired keys' checkpoints until one is; check the database against your last export, then run identgate audit handover (docs/security.md#rotating-the-central-signing-key)`;
  await writeHandover(pool, signingKey, { actor: 'system', at });
  log.info('where each chain stands recorded, signed by the current central key (keys.signing.handover)');
  return undefined;
}

/**
 * Why this instance should not sign: the key in use since is another that this configuration
 * does not retire, and this key was in use before it — an instance left on a replaced key.
 */
async function replacedBy(pool: Pool, keys: CentralKeyHistory, newer: string): Promise<string | undefined> {
  if (keys.retired.some((r) => r.publicKey === newer)) return undefined;
  const earlier = await pool.query(
    `SELECT 1 FROM audit_log WHERE action = 'keys.signing.in-use' AND details ->> 'publicKey' = $1 LIMIT 1`,
    [keys.current],
  );
  if (earlier.rowCount === 0) return undefined;
  return `this instance signs with ${keys.current}, which ${newer} has replaced (keys.signing.in-use in the audit log): switch its keys.signing to the current key and list ${keys.current} in keys.retiredSigning (docs/security.md#rotating-the-central-signing-key)`;
}

/** The checkpoints' signers this configuration does not trust for all their days, one line each. */
async function untrustedCheckpoints(pool: Pool, keys: CentralKeyHistory): Promise<string[]> {
  const signers = await pool.query<{ public_key: string; first: string; last: string; days: number }>(
    `SELECT public_key, to_char(min(day), 'YYYY-MM-DD') AS first, to_char(max(day), 'YYYY-MM-DD') AS last,
            count(*)::int AS days
       FROM audit_checkpoints GROUP BY public_key ORDER BY min(day)`,
  );
  const problems: string[] = [];
  const mine = signers.rows.find((s) => s.public_key === keys.current);
  for (const s of signers.rows) {
    if (centralKeyFor(keys, s.public_key, s.last)) continue;
    if (mine && s.first > mine.last && !keys.retired.some((r) => r.publicKey === s.public_key)) {
      // Signed after this key's last day: a newer key, which this instance has not been switched to.
      problems.push(
        `${s.days} day checkpoints (${s.first} to ${s.last}) are signed by ${s.public_key}, after the last of this instance's key ${keys.current} (${mine.last}): ${s.public_key} has replaced it; switch this instance's keys.signing to it and list ${keys.current} in keys.retiredSigning (docs/security.md#rotating-the-central-signing-key)`,
      );
      continue;
    }
    const retired = keys.retired.find((r) => r.publicKey === s.public_key);
    problems.push(
      retired
        ? `${s.days} day checkpoints (${s.first} to ${s.last}) are signed by ${s.public_key}, retired in keys.retiredSigning after ${retired.lastDay}: audit verify fails on those after it; if the key was in use until ${s.last}, set its lastDay so`
        : `${s.days} day checkpoints (${s.first} to ${s.last}) are signed by ${s.public_key}, which is neither keys.signing nor in keys.retiredSigning: audit verify fails on them; if it is the key keys.signing replaced, add { publicKey: '${s.public_key}', lastDay: '${s.last}' } to keys.retiredSigning (docs/security.md#rotating-the-central-signing-key)`,
    );
  }
  return problems;
}
