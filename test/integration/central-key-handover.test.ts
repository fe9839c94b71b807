import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { signCheckpoint } from '../../src/dashboard/audit/chain-links.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { dayAgo, insertCheckpoint, rotationHistory } from '../helpers/rotation-history.js';

/**
 * The retired key (leaked after its lastDay) plus write access to the database: the current key's
 * checkpoints are only rows in audit_checkpoints, so deleting them would make the chain look as if
 * the current key never signed it, and a checkpoint by the retired key dated within its use could
 * bridge rows added after the rotation. The handover the current key signed at its first start
 * (key-handover.ts) says where each chain stood: nothing of the retired key's beyond it counts.
 * Found by review rv90; each test failed before the handover.
 */
describe('the handover to the current key: a retired key cannot take its days back', () => {
  let rig: RetentionRig;
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const oldPublic = exportPublicKey(createPublicKey(oldKey));
  const retired: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(4) }];

  /** Old era (5 days ago, old key), rotation, new era (2 days ago, new key), today unsigned. */
  const history = () => rotationHistory(rig, { oldKey, newKey, retired });

  const verifyRotated = () => verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired });

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  beforeEach(history);
  afterAll(async () => {
    await rig.close();
  });

  async function chain() {
    return (
      await rig.pool.query<{ no: string; ref: string; hash: Buffer; added_at: Date }>(
        `SELECT no, ref, hash, added_at FROM audit_chain WHERE site = 'berlin' ORDER BY no`,
      )
    ).rows;
  }

  /** Deletes the chain rows and events of `victims` and bridges them with a retired-key checkpoint. */
  async function bridge(day: string, keepUntilNo: number, victims: Awaited<ReturnType<typeof chain>>) {
    const before = (
      await rig.pool.query<{ last_no: string; head: Buffer }>(
        `SELECT last_no, head FROM audit_checkpoints WHERE site = 'berlin' AND last_no <= $1 ORDER BY last_no DESC LIMIT 1`,
        [keepUntilNo],
      )
    ).rows[0] as { last_no: string; head: Buffer };
    const first = victims[0] as (typeof victims)[0];
    const last = victims.at(-1) as (typeof victims)[0];
    const forged = signCheckpoint(
      {
        site: 'berlin',
        day,
        firstNo: Number(first.no),
        lastNo: Number(last.no),
        count: victims.length,
        prevHash: before.head.toString('hex'),
        head: last.hash.toString('hex'),
        // The signed span within the day it is labelled with: nothing ties it to the rows.
        from: `${day}T10:00:00.000Z`,
        to: `${day}T11:00:00.000Z`,
      },
      oldKey,
      createPublicKey(oldKey),
    );
    for (const v of victims) {
      await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = $1`, [v.no]);
      await rig.pool.query(`DELETE FROM events WHERE id::text = $1`, [v.ref]);
    }
    await insertCheckpoint(rig, forged);
  }

  it('baseline: the honest history verifies, with a checkpoint by each key in berlin', async () => {
    expect((await verifyRotated()).ok).toBe(true);
    const signers = await rig.pool.query(
      `SELECT public_key FROM audit_checkpoints WHERE site = 'berlin' ORDER BY last_no`,
    );
    expect(signers.rows.map((r) => r.public_key === oldPublic)).toEqual([true, false]);
  });

  it('without the handover record a retired key’s checkpoints prove nothing', async () => {
    await rig.pool.query(`DELETE FROM audit_log WHERE action = 'keys.signing.handover'`);
    const report = await verifyRotated();
    expect(report.ok).toBe(false);
    expect(report.mismatch?.problem).toMatch(/and no handover to the current key is recorded/);
  });

  it('deleting the current key’s checkpoints and bridging its day and today’s first row with one dated lastDay is refused', async () => {
    const rows = await chain();
    expect(rows).toHaveLength(5); // 1 old era, 1 new era (signed by the new key), 3 today
    // The attacker removes every checkpoint the current key made in berlin ...
    await rig.pool.query(`DELETE FROM audit_checkpoints WHERE site = 'berlin' AND public_key <> $1`, [
      oldPublic,
    ]);
    // ... and deletes the new era's event and today's first, bridged by the retired key, "lastDay".
    await bridge(dayAgo(4), 1, rows.slice(1, 3));
    const report = await verifyRotated();
    // Secure: refused (rows added after the rotation, signed by the retired key).
    expect(report.ok, JSON.stringify(report)).toBe(false);
  });

  it('with no free day before lastDay, replacing the retired key’s own last checkpoint (same day) does the same', async () => {
    const rows = await chain();
    const lastDayIsItsLast: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(5) }];
    await rig.pool.query(`DELETE FROM audit_checkpoints WHERE site = 'berlin'`);
    await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = 1`);
    // Rows 1–3 (old era, new era, today's first) under one checkpoint "of" the old key's last day.
    const victims = rows.slice(1, 3);
    const forged = signCheckpoint(
      {
        site: 'berlin',
        day: dayAgo(5),
        firstNo: 1,
        lastNo: 3,
        count: 3,
        prevHash: '0'.repeat(64),
        head: (victims[1] as (typeof rows)[0]).hash.toString('hex'),
        from: `${dayAgo(5)}T10:00:00.000Z`,
        to: `${dayAgo(5)}T11:00:00.000Z`,
      },
      oldKey,
      createPublicKey(oldKey),
    );
    for (const v of victims) {
      await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = $1`, [v.no]);
      await rig.pool.query(`DELETE FROM events WHERE id::text = $1`, [v.ref]);
    }
    await insertCheckpoint(rig, forged);
    const report = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: lastDayIsItsLast,
    });
    expect(report.ok, JSON.stringify(report)).toBe(false);
  });

  it('... and the current key’s own job then signs on from the forged checkpoint', async () => {
    const rows = await chain();
    await rig.pool.query(`DELETE FROM audit_checkpoints WHERE site = 'berlin' AND public_key <> $1`, [
      oldPublic,
    ]);
    await bridge(dayAgo(4), 1, rows.slice(1, 3));
    // Tomorrow's job, simulated: today's rows moved to yesterday.
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = added_at - interval '1 day' WHERE site = 'berlin' AND no > 3`,
    );
    // The current key's job does not sign on from it.
    await expect(
      new ChainCheckpointer(rig.pool, newKey, retired).checkpointFinishedDays(),
    ).rejects.toMatchObject({
      code: 'IDG_AUDIT_CHECKPOINT_KEY_FOREIGN',
      message: expect.stringContaining('beyond row 1, where the current key took the chain over'),
    });
    const signed = await rig.pool.query(
      `SELECT 1 FROM audit_checkpoints WHERE site = 'berlin' AND last_no > 3`,
    );
    expect(signed.rowCount).toBe(0);
  });
});
