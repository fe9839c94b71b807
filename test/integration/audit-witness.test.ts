import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { linkHash, signCheckpoint } from '../../src/dashboard/audit/chain-links.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { CheckpointJob } from '../../src/dashboard/audit/checkpoint-job.js';
import { readWitness } from '../../src/dashboard/audit/checkpoint-witness.js';
import {
  WITNESS_MISMATCH_KEY,
  WITNESS_UNWRITABLE_KEY,
  WitnessReconciler,
} from '../../src/dashboard/audit/witness-reconcile.js';
import { AlarmStore } from '../../src/dashboard/storage/alarm-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { until } from '../helpers/wait.js';

/**
 * The witness of the day checkpoints, outside the database: what someone who can write to the
 * database, holding no key, can do to the chain without it, and what the witness makes of it.
 */
describe('the audit witness', () => {
  let rig: RetentionRig;
  let dir: string;
  let witnessFile: string;
  let config: { file: string; env: Record<string, string> };
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  const keys = { current: exportPublicKey(publicKey), retired: [] };

  beforeAll(async () => {
    rig = await startRetentionRig();
    dir = mkdtempSync(join(tmpdir(), 'idg-witness-'));
    witnessFile = join(dir, 'checkpoints.witness');
    const keyFile = join(dir, 'signing.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    config = dashboardConfigFile(
      rig.databaseUrl,
      `keys:\n  signing: { file: ${keyFile} }\naudit:\n  witnessFile: ${witnessFile}\n`,
    );
  });
  afterAll(() => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    rmSync(witnessFile, { force: true, recursive: true });
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config.file], { env: config.env });
  const checkpoint = () => new ChainCheckpointer(rig.pool, privateKey).checkpointFinishedDays();
  const published: number[] = [];
  const reconciler = (file = witnessFile) =>
    new WitnessReconciler({
      pool: rig.pool,
      file,
      keys,
      alarms: new AlarmStore(rig.pool),
      alarmsChanged: (changed) => published.push(...changed.map((a) => a.id)),
      log: silentLogger,
    });
  const openAlarm = async (key: string) =>
    (
      await rig.pool.query<{ alarm: string; severity: string; detail: string }>(
        `SELECT alarm, severity, detail FROM alarms WHERE source = 'central' AND key = $1 AND cleared_at IS NULL`,
        [key],
      )
    ).rows[0];

  /** Three berlin events on each of two finished days (by when they joined the chain). */
  const twoDays = async () => {
    for (let i = 0; i < 6; i++) await rig.event('berlin', DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = added_at - make_interval(days => CASE WHEN no <= 3 THEN 3 ELSE 2 END)
        WHERE site = 'berlin'`,
    );
  };

  /**
   * What a database writer without a key can do: change an event of the last signed day, make
   * its chain link and every later one agree again (plain SHA-256), and delete that day's
   * checkpoint, so that the job signs the day as it now stands.
   */
  const rewriteLastDay = async () => {
    const victim = await rig.pool.query<{ ref: string }>(
      `SELECT ref FROM audit_chain WHERE site = 'berlin' AND no = 5`,
    );
    await rig.pool.query(`UPDATE events SET person = 'someone-else' WHERE id = $1`, [victim.rows[0]?.ref]);
    await rig.pool.query(
      `UPDATE audit_chain c SET digest = identgate_event_digest(e) FROM events e
        WHERE c.site = 'berlin' AND c.no = 5 AND e.id::text = c.ref`,
    );
    const rows = await rig.pool.query<{ no: string; digest: Buffer; hash: Buffer }>(
      `SELECT no, digest, hash FROM audit_chain WHERE site = 'berlin' ORDER BY no`,
    );
    let previous = rows.rows[3]?.hash as Buffer;
    for (const row of rows.rows.slice(4)) {
      previous = linkHash(previous, row.digest);
      await rig.pool.query(`UPDATE audit_chain SET hash = $2 WHERE site = 'berlin' AND no = $1`, [
        row.no,
        previous,
      ]);
    }
    await rig.pool.query(`DELETE FROM audit_checkpoints WHERE site = 'berlin' AND last_no = 6`);
  };

  it('is needed: without it, a rewritten and re-signed day verifies', async () => {
    await twoDays();
    expect(await checkpoint()).toHaveLength(2);
    await rewriteLastDay();
    expect(await checkpoint()).toHaveLength(1);
    // The database alone cannot tell: the chain agrees with itself and its signed checkpoints.
    expect((await verifyChains(rig.pool, { publicKey })).ok).toBe(true);
  });

  it('appends every checkpoint once, and puts one the database lost back before anything is signed', async () => {
    await twoDays();
    const witness = reconciler();
    expect((await witness.reconcile()).appended).toBe(0);
    await checkpoint();
    const first = await witness.reconcile();
    expect(first).toMatchObject({ appended: 2, problems: [], restored: [] });
    expect((await readWitness(witnessFile)).checkpoints.map((c) => [c.site, c.day, c.lastNo])).toEqual([
      ['berlin', expect.any(String), 3],
      ['berlin', expect.any(String), 6],
    ]);
    expect((await witness.reconcile()).appended).toBe(0);
    expect(readFileSync(witnessFile, 'utf8').trim().split('\n')).toHaveLength(2);

    // The attack, with the witness: the lost checkpoint is put back before anything is signed.
    await rewriteLastDay();
    const after = await witness.reconcile();
    expect(after.restored.map((c) => c.lastNo)).toEqual([6]);
    expect(await checkpoint()).toEqual([]);
    const report = await verifyChains(rig.pool, { publicKey });
    expect(report.ok).toBe(false);
    // The rewritten links agree with each other, not with the head the witness kept.
    expect(report.mismatch).toMatchObject({ site: 'berlin', no: 6 });
    expect(await openAlarm(WITNESS_MISMATCH_KEY)).toMatchObject({
      alarm: 'audit-witness-mismatch',
      severity: 'critical',
      detail: expect.stringContaining('restored: berlin'),
    });
    expect(published.length).toBeGreaterThan(0);
    const audited = await rig.pool.query(
      `SELECT details FROM audit_log WHERE action = 'audit.witness.restored'`,
    );
    expect(audited.rows).toEqual([
      { details: { checkpoints: [expect.objectContaining({ site: 'berlin' })] } },
    ]);
  });

  it('names a checkpoint signed anew over a rewritten day, and audit verify fails on it', async () => {
    await twoDays();
    await checkpoint();
    await reconciler().reconcile();
    // The rewrite and the new signature happen where the witness was not asked first (another
    // instance without one, say).
    await rewriteLastDay();
    await checkpoint();
    const outcome = await reconciler().reconcile();
    expect(outcome.problems).toEqual([
      expect.stringMatching(/^checkpoint of chain berlin for .* differs from the witnessed one/),
    ]);
    expect(await openAlarm(WITNESS_MISMATCH_KEY)).toMatchObject({ alarm: 'audit-witness-mismatch' });
    const verify = await cli('audit', 'verify');
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/WITNESS MISMATCH: checkpoint of chain berlin for .* differs/);
    expect(verify.stdout).toContain('witness');
  });

  it('finds a checkpoint slipped into the past, and one a stranger wrote into the witness', async () => {
    await twoDays();
    await checkpoint();
    await reconciler().reconcile();
    // A checkpoint of an earlier day, signed with the right key (a leaked key, or a replayed one).
    await rig.pool.query(
      `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to, public_key, signature)
       SELECT site, day - 10, 0, 0, 1, prev_hash, prev_hash, span_from - interval '10 days', span_from - interval '10 days', public_key, signature
         FROM audit_checkpoints WHERE site = 'berlin' AND last_no = 3`,
    );
    const forged = generateSigningKeyPair();
    const line = JSON.parse(readFileSync(witnessFile, 'utf8').split('\n')[0] as string);
    writeFileSync(
      witnessFile,
      `${JSON.stringify({ ...line, site: 'hamburg', publicKey: exportPublicKey(forged.publicKey) })}\n`,
      { flag: 'a' },
    );
    const outcome = await reconciler().reconcile();
    expect(outcome.restored).toEqual([]);
    expect(outcome.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/checkpoint of chain hamburg .* that no trusted central key signed/),
        expect.stringMatching(
          /checkpoint of chain berlin for .* was never witnessed, though the witness holds the chain up to/,
        ),
      ]),
    );
  });

  it('without a signing key compares by content alone and puts nothing back', async () => {
    await twoDays();
    await checkpoint();
    await reconciler().reconcile();
    await rig.pool.query(`DELETE FROM audit_checkpoints WHERE site = 'berlin' AND last_no = 6`);
    const keyless = new WitnessReconciler({
      pool: rig.pool,
      file: witnessFile,
      alarms: new AlarmStore(rig.pool),
      log: silentLogger,
    });
    const outcome = await keyless.reconcile();
    expect(outcome.restored).toEqual([]);
    expect(outcome.problems).toEqual([
      expect.stringMatching(
        /^checkpoint of chain berlin for .* \(rows 4–6, .*\) was witnessed and is not in the database$/,
      ),
    ]);
  });

  it('drops a torn last line and appends its checkpoint again', async () => {
    await twoDays();
    await checkpoint();
    await reconciler().reconcile();
    const whole = readFileSync(witnessFile, 'utf8');
    const [first] = whole.split('\n');
    writeFileSync(witnessFile, `${first}\n${whole.split('\n')[1]?.slice(0, 40)}`);
    const outcome = await reconciler().reconcile();
    expect(outcome).toMatchObject({ appended: 1, problems: [] });
    expect((await readWitness(witnessFile)).checkpoints.map((c) => c.lastNo)).toEqual([3, 6]);
  });

  it('raises audit-witness-unwritable while it cannot be written, signs nothing meanwhile, and clears it after', async () => {
    await twoDays();
    mkdirSync(witnessFile); // a directory where the file should be
    let signed = 0;
    const job = new CheckpointJob(
      {
        checkpointFinishedDays: async () => {
          signed += 1;
          return [];
        },
      },
      // The first run only, at once.
      {
        setTimeout: (fn: () => void, ms: number) => {
          if (ms === 0) setImmediate(fn);
          return { cancel: () => undefined };
        },
      } as never,
      silentLogger,
      3_600_000,
      reconciler(),
    );
    job.start();
    await until(async () => (await openAlarm(WITNESS_UNWRITABLE_KEY)) !== undefined, 'the unwritable alarm');
    await job.stop();
    expect(signed).toBe(0);
    expect(await openAlarm(WITNESS_UNWRITABLE_KEY)).toMatchObject({ severity: 'warning' });
    rmSync(witnessFile, { recursive: true });
    await checkpoint();
    await reconciler().reconcile();
    expect(await openAlarm(WITNESS_UNWRITABLE_KEY)).toBeUndefined();
  });

  it('is kept by audit checkpoint, and audit verify passes against it', async () => {
    await twoDays();
    const signed = await cli('audit', 'checkpoint');
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toContain('2 checkpoint(s) appended');
    expect((await readWitness(witnessFile)).checkpoints).toHaveLength(2);
    const verify = await cli('audit', 'verify');
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toContain('2 checkpoints as witnessed, 0 not witnessed yet');
    // A copy kept elsewhere, named on the command line, is read the same way.
    const copy = join(dir, 'copy.witness');
    writeFileSync(copy, readFileSync(witnessFile));
    expect((await cli('audit', 'verify', '--witness', copy)).code).toBe(0);
  });

  describe('against a database writer, and a witness writer holding a leaked retired key (review rv94)', () => {
    const old = generateKeyPairSync('ed25519');
    const lastDay = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    const withRetired = {
      current: exportPublicKey(publicKey),
      retired: [{ publicKey: exportPublicKey(old.publicKey), lastDay }],
    };
    const retiredReconciler = () =>
      new WitnessReconciler({
        pool: rig.pool,
        file: witnessFile,
        keys: withRetired,
        alarms: new AlarmStore(rig.pool),
        log: silentLogger,
      });

    it('witnesses no checkpoint that no trusted key signed, so its alarm ends once the database is clean', async () => {
      await twoDays();
      await checkpoint();
      await reconciler().reconcile();
      await rig.pool.query(
        `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to, public_key, signature)
         SELECT site, day + 30, 1000, 1000, 1, head, head, span_to + interval '30 days', span_to + interval '30 days', 'ed25519:AAAA', 'forged'
           FROM audit_checkpoints WHERE site = 'berlin' AND last_no = 6`,
      );
      const seen = await reconciler().reconcile();
      expect(seen.appended).toBe(0);
      expect(seen.problems).toEqual([
        expect.stringMatching(/is signed by no key trusted for it .*: not witnessed$/),
      ]);
      await rig.pool.query(`DELETE FROM audit_checkpoints WHERE last_no = 1000`);
      expect((await readWitness(witnessFile)).checkpoints.map((c) => c.signature)).not.toContain('forged');
      expect((await reconciler().reconcile()).problems).toEqual([]);
    });

    it('puts back no retired key’s checkpoint beyond its handover, nor one that does not fit the chain, so signing goes on', async () => {
      await twoDays();
      expect(await checkpoint()).toHaveLength(2);
      await retiredReconciler().reconcile();
      const forge = (firstNo: number, lastNo: number, prevHash: string, key = old) => {
        const d = new Date(Date.now() - 20 * DAY).toISOString().slice(0, 10);
        return signCheckpoint(
          {
            site: 'berlin',
            day: d,
            firstNo,
            lastNo,
            count: lastNo - firstNo + 1,
            prevHash,
            head: '11'.repeat(32),
            from: `${d}T12:00:00.000Z`,
            to: `${d}T12:00:00.000Z`,
          },
          key.privateKey,
          key.publicKey,
        );
      };
      const head6 = (
        await rig.pool.query<{ head: Buffer }>(`SELECT head FROM audit_checkpoints WHERE last_no = 6`)
      ).rows[0]?.head.toString('hex') as string;
      // Far ahead in the chain, by the leaked key: beyond any handover, and fitting nothing.
      writeFileSync(witnessFile, `${JSON.stringify(forge(1_000_000, 1_000_000, '00'.repeat(32)))}\n`, {
        flag: 'a',
      });
      const outcome = await retiredReconciler().reconcile();
      expect(outcome.restored).toEqual([]);
      expect(outcome.problems).toEqual([expect.stringMatching(/was witnessed and is not in the database$/)]);
      // By the current key but not fitting (rows the chain does not hold): not put back either.
      rmSync(witnessFile);
      await retiredReconciler().reconcile();
      writeFileSync(witnessFile, `${JSON.stringify(forge(7, 50, head6, { privateKey, publicKey }))}\n`, {
        flag: 'a',
      });
      expect((await retiredReconciler().reconcile()).restored).toEqual([]);
      // The chain's next day is signed as usual.
      for (let i = 0; i < 3; i++) await rig.event('berlin', DAY);
      await rig.pool.query(
        `UPDATE audit_chain SET added_at = added_at - interval '1 day' WHERE site = 'berlin' AND no > 6`,
      );
      expect(
        await new ChainCheckpointer(rig.pool, privateKey, withRetired.retired).checkpointFinishedDays(),
      ).toHaveLength(1);
      const stored = await rig.pool.query(
        `SELECT last_no FROM audit_checkpoints WHERE site = 'berlin' ORDER BY last_no`,
      );
      expect(stored.rows.map((r) => Number(r.last_no))).toEqual([3, 6, 9]);
    });
  });
});
