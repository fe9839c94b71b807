import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { inspectErasureList } from '../../src/dashboard/audit/erasure-list-check.js';
import { writeHandover } from '../../src/dashboard/audit/key-handover.js';
import { checkSigningKeyAtStart } from '../../src/dashboard/audit/signing-key-use.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * Honest operations at the edges of a rotation that the first fixes made fail, or answered
 * with bad advice (review rv90; each test failed before its fix).
 */
describe('the honest edges of a rotation', () => {
  let rig: RetentionRig;
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const oldPublic = exportPublicKey(createPublicKey(oldKey));
  const newPublic = exportPublicKey(createPublicKey(newKey));
  const dayAgo = (n: number) => new Date(Date.now() - n * DAY).toISOString().slice(0, 10);
  const retired: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(4) }];
  const keys = { current: newPublic, retired };
  const nowAge = () => NOW - Date.now();
  const noAlarms = { raiseCentral: async () => [], clearCentral: async () => [] };

  /** The old key's era, 5 days ago: an event and its list signature, checkpointed by the old key. */
  async function oldEra(): Promise<void> {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    await rig.event('berlin', nowAge() + 5 * DAY);
    await signErasureListAtStart(rig.pool, oldKey, silentLogger, new Date(Date.now() - 5 * DAY));
    await rig.pool.query(`UPDATE audit_chain SET added_at = added_at - interval '5 days'`);
    await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays();
    // The new key's first start, at the rotation: where the chains stand, signed by it.
    await writeHandover(rig.pool, newKey);
  }

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  beforeEach(oldEra);
  afterAll(async () => {
    await rig.close();
  });

  it('DateStyle: a database whose DateStyle is not ISO still takes the retired key’s honest list change and checkpoints', async () => {
    const dmy = new pg.Pool({ connectionString: rig.databaseUrl, options: '-c datestyle=SQL,DMY', max: 1 });
    try {
      // Under the default DateStyle both are fine ...
      expect((await inspectErasureList(rig.pool, keys)).problem).toBeUndefined();
      expect((await checkSigningKeyAtStart(rig.pool, newKey, keys, noAlarms, silentLogger)).problems).toEqual(
        [],
      );
      // ... under 'SQL, DMY' (postgresql.conf datestyle, ALTER DATABASE … SET datestyle) not.
      const inspection = await inspectErasureList(dmy, keys);
      const start = await checkSigningKeyAtStart(dmy, newKey, keys, noAlarms, silentLogger);
      expect({ list: inspection.problem, start: start.problems }).toEqual({ list: undefined, start: [] });
    } finally {
      await dmy.end();
    }
  });

  it('an instance left on the old key after the new one started signs no day after lastDay', async () => {
    // The rotation: an instance on the new key starts (recorded in keys.signing.in-use) ...
    await checkSigningKeyAtStart(rig.pool, newKey, keys, noAlarms, silentLogger);
    await signErasureListAtStart(rig.pool, newKey, silentLogger, undefined, retired);
    // ... rows of three days ago (after lastDay) wait to be signed; the forgotten old instance's job runs first.
    await rig.event('berlin', nowAge() + 3 * DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = now() - interval '3 days' WHERE added_at > now() - interval '1 day'`,
    );
    const made = await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays().catch(() => []);
    const report = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired });
    // Secure and recoverable: the old instance refuses (the audit log says another key is in use).
    expect({
      made: made.map((c) => `${c.site} ${c.day} ${c.publicKey === oldPublic ? 'old' : 'new'}`),
      ok: report.ok,
    }).toEqual({
      made: [],
      ok: true,
    });
  });

  it('a site whose last checkpoint is by a key no longer configured does not stop the checkpoints of the other sites', async () => {
    // aachen: quiet since the era of a key dropped from keys.retiredSigning (docs step 6).
    await rig.pool.query(`UPDATE audit_checkpoints SET site = 'aachen' WHERE site = 'berlin'`);
    await rig.pool.query(`UPDATE audit_chain SET site = 'aachen' WHERE site = 'berlin'`);
    await rig.event('aachen', nowAge() + 2 * DAY);
    await rig.event('berlin', nowAge() + 2 * DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = now() - interval '2 days' WHERE added_at > now() - interval '1 day'`,
    );
    await new ChainCheckpointer(rig.pool, newKey, []).checkpointFinishedDays().catch(() => []);
    const berlin = await rig.pool.query(`SELECT day FROM audit_checkpoints WHERE site = 'berlin'`);
    // Secure and available: aachen refused, berlin (whose chain is the new key's alone) signed.
    expect(berlin.rowCount, 'berlin signed').toBe(1);
  });

  it('an instance still on the old key is not told to retire the new key', async () => {
    // The new key signed the days after the old one's (a rotation under way).
    await rig.event('berlin', nowAge() + 2 * DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = now() - interval '2 days' WHERE added_at > now() - interval '1 day'`,
    );
    await writeHandover(rig.pool, newKey); // the new key's first start
    await new ChainCheckpointer(rig.pool, newKey, retired).checkpointFinishedDays();
    const start = await checkSigningKeyAtStart(
      rig.pool,
      oldKey,
      { current: oldPublic, retired: [] },
      noAlarms,
      silentLogger,
    );
    // Advice for this instance is to switch to the newer key, not to put it in keys.retiredSigning.
    expect(start.problems.join('\n')).not.toContain(`add { publicKey: '${newPublic}'`);
    expect(start.problems.join('\n')).toContain(
      `${newPublic} has replaced it; switch this instance's keys.signing to it`,
    );
  });
});
