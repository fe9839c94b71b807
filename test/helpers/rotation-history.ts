import { type KeyObject, randomBytes } from 'node:crypto';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import type { Checkpoint } from '../../src/dashboard/audit/chain-links.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { writeHandover } from '../../src/dashboard/audit/key-handover.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { DAY, NOW, type RetentionRig } from './retention-rig.js';

/** The UTC day `n` days before now, YYYY-MM-DD. */
export const dayAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString().slice(0, 10);

/**
 * A rotation of the central key as it happened: the old key's era 5 days ago (an event of
 * agent-ada, the erased-rows list signed, the day checkpointed), the new key's first start (the
 * handover, the list signed anew), its era 2 days ago (an event of agent-bob, checkpointed), and
 * three events today, not checkpointed yet. `firstAuditId` sets where audit ids start.
 */
export async function rotationHistory(
  rig: RetentionRig,
  keys: { oldKey: KeyObject; newKey: KeyObject; retired: RetiredKey[] },
  firstAuditId?: number,
): Promise<void> {
  const { oldKey, newKey, retired } = keys;
  const nowAge = () => NOW - Date.now(); // rig.event(age) counts from the rig's fixed clock
  await rig.reset();
  await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
  if (firstAuditId !== undefined)
    await rig.pool.query(`SELECT setval(pg_get_serial_sequence('audit_log', 'id'), $1)`, [firstAuditId]);
  const people = new PeopleStore(rig.pool, randomBytes(32));
  for (const id of ['agent-ada', 'agent-bob']) await people.upsertPerson({ id, displayName: id });
  await rig.event('berlin', nowAge() + 5 * DAY, { person: 'agent-ada' });
  await signErasureListAtStart(rig.pool, oldKey, silentLogger, new Date(Date.now() - 5 * DAY));
  await rig.pool.query(`UPDATE audit_chain SET added_at = added_at - interval '5 days'`);
  await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays();
  await writeHandover(rig.pool, newKey);
  await signErasureListAtStart(rig.pool, newKey, silentLogger, new Date(Date.now() - 2 * DAY), retired);
  await rig.event('berlin', nowAge() + 2 * DAY, { person: 'agent-bob' });
  await rig.pool.query(
    `UPDATE audit_chain SET added_at = now() - interval '2 days' WHERE added_at > now() - interval '1 day'`,
  );
  await new ChainCheckpointer(rig.pool, newKey, retired).checkpointFinishedDays();
  for (let i = 0; i < 3; i++) await rig.event('berlin', nowAge() + 60_000 * (3 - i));
}

/** The retention service (erasures) as a dashboard with these keys runs it. */
export function retentionServiceWith(
  rig: RetentionRig,
  signingKey: KeyObject,
  retiredKeys?: RetiredKey[],
): RetentionService {
  return new RetentionService({
    pool: rig.pool,
    clock: rig.clock,
    log: silentLogger,
    settings: retentionSettings({}),
    signingKey,
    ...(retiredKeys ? { retiredKeys } : {}),
  });
}

/** Writes a checkpoint row as it is (what someone who writes to the database does). */
export async function insertCheckpoint(rig: RetentionRig, c: Checkpoint): Promise<void> {
  await rig.pool.query(
    `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to, public_key, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      c.site,
      c.day,
      c.firstNo,
      c.lastNo,
      c.count,
      Buffer.from(c.prevHash, 'hex'),
      Buffer.from(c.head, 'hex'),
      c.from,
      c.to,
      c.publicKey,
      c.signature,
    ],
  );
}
