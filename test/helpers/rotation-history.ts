import type { KeyObject } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { writeHandover } from '../../src/dashboard/audit/key-handover.js';
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
