import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { resignCheckpoints } from '../../src/dashboard/audit/checkpoint-resign.js';
import { writeHandover } from '../../src/dashboard/audit/key-handover.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { dayAgo } from '../helpers/rotation-history.js';

/**
 * An honest rotation: the old instance's job for lastDay (its own last day) commits just after
 * the new instance's start wrote the handover (or the old instance runs code older than it).
 * Found by review rv91; the repair the docs name did nothing before.
 */
describe('the old key’s checkpoint of lastDay, committed after the handover', () => {
  let rig: RetentionRig;
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const oldPublic = exportPublicKey(createPublicKey(oldKey));
  const retired: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(1) }];
  const nowAge = () => NOW - Date.now();

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  it('audit verify refuses it, and `--resign-after <lastDay>` signs it anew', async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    await rig.event('berlin', nowAge() + 2 * DAY);
    await rig.pool.query(`UPDATE audit_chain SET added_at = added_at - interval '2 days'`);
    await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays();
    await rig.event('berlin', nowAge() + 1 * DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = now() - interval '1 day' WHERE added_at > now() - interval '12 hours'`,
    );
    // The old instance signs yesterday (its lastDay) ...
    await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays();
    // ... in a transaction the new start's handover did not see: the race's outcome.
    const late = await rig.pool.query(`DELETE FROM audit_checkpoints WHERE day = $1::date RETURNING *`, [
      dayAgo(1),
    ]);
    await writeHandover(rig.pool, newKey);
    for (const r of late.rows)
      await rig.pool.query(
        `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to, public_key, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          r.site,
          r.day,
          r.first_no,
          r.last_no,
          r.count,
          r.prev_hash,
          r.head,
          r.span_from,
          r.span_to,
          r.public_key,
          r.signature,
        ],
      );
    const verify = () => verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired });
    const first = await verify();
    expect(first.ok).toBe(false);
    const outcomes = await resignCheckpoints(
      rig.pool,
      newKey,
      retired,
      retired[0]?.lastDay as string,
      'staff:test',
    );
    expect(outcomes).toEqual([{ site: 'berlin', days: [retired[0]?.lastDay] }]);
    const after = await verify();
    expect(after.ok, JSON.stringify(after.mismatch)).toBe(true);
  });
});
