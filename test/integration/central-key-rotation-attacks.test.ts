import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/dashboard/audit/bundle-verify.js';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { signCheckpoint } from '../../src/dashboard/audit/chain-links.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { erasureListState } from '../../src/dashboard/audit/erasure-list-check.js';
import { signatureRef, signErasureList } from '../../src/dashboard/audit/erasure-list-signature.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import {
  dayAgo,
  insertCheckpoint,
  retentionServiceWith,
  rotationHistory,
} from '../helpers/rotation-history.js';

/**
 * An attacker who holds the retired central key (leaked after its lastDay) and can write to the
 * database; and the edges of a rotation an operator meets. Found by a review (rv89): each test
 * failed before its fix.
 */
describe('a leaked retired central key, and the edges of a rotation', () => {
  let rig: RetentionRig;
  let work: string;
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const oldPublic = exportPublicKey(createPublicKey(oldKey));
  const newPublic = exportPublicKey(createPublicKey(newKey));
  // The old key was retired four days ago; it leaks afterwards.
  const retired: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(4) }];

  const service = (signingKey: KeyObject, retiredKeys?: RetiredKey[]) =>
    retentionServiceWith(rig, signingKey, retiredKeys);

  /** Old era (5 days ago, old key), rotation, new era (2 days ago, new key), today unsigned. */
  const history = () => rotationHistory(rig, { oldKey, newKey, retired }, 100);

  const verifyRotated = () => verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired });

  /**
   * What the holder of the retired key does: deletes today's last event, lists its chain row as
   * erased, and records the list as a change signed by the retired key, back-dated into its use.
   */
  async function forgeListChange(): Promise<void> {
    // The attacker deletes today's last event and lists its chain row as erased ...
    const row = (
      await rig.pool.query<{ no: string; ref: string }>(
        `SELECT c.no, c.ref FROM audit_chain c WHERE c.site = 'berlin' AND c.source = 'event' ORDER BY c.no DESC LIMIT 1`,
      )
    ).rows[0] as { no: string; ref: string };
    await rig.pool.query(`DELETE FROM events WHERE id = $1`, [row.ref]);
    await rig.pool.query(`INSERT INTO erased_chain_rows (site, no) VALUES ('berlin', $1)`, [row.no]);
    // ... and records the list as a change signed by the retired key, dated within its use.
    const newest = (
      await rig.pool.query<{ details: { erasedRowsSigned: { signature: string } } }>(
        `SELECT details FROM audit_log WHERE details ? 'erasedRowsSigned' ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    const state = await erasureListState(rig.pool);
    const entry = Number(
      (await rig.pool.query(`SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) AS n`)).rows[0]?.n,
    );
    const prev = signatureRef(newest?.details.erasedRowsSigned.signature as string);
    const signed = signErasureList({ action: 'person.erase', entry, ...state, prev }, oldKey);
    await rig.pool.query(
      `INSERT INTO audit_log (id, at, actor, action, details) VALUES ($1, now() - interval '5 days', 'staff:someone', 'person.erase', $2)`,
      [entry, JSON.stringify({ erasedRows: state.digest, erasedRowsSigned: signed })],
    );
  }

  beforeAll(async () => {
    rig = await startRetentionRig();
    work = mkdtempSync(join(tmpdir(), 'idg-rv89-'));
  });
  beforeEach(history);
  afterAll(async () => {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('baseline: the honest history verifies under the rotated configuration', async () => {
    const report = await verifyRotated();
    expect(report.mismatch).toBeUndefined();
    expect(report.ok).toBe(true);
    const signers = await rig.pool.query(`SELECT DISTINCT public_key FROM audit_checkpoints`);
    expect(signers.rows.map((r) => r.public_key).sort()).toEqual([oldPublic, newPublic].sort());
  });

  it('A: a checkpoint signed by the retired key with an old `day` label cannot cover rows added after the rotation', async () => {
    const last = (
      await rig.pool.query<{ last_no: string; head: Buffer }>(
        `SELECT last_no, head FROM audit_checkpoints WHERE site = 'berlin' ORDER BY last_no DESC LIMIT 1`,
      )
    ).rows[0] as { last_no: string; head: Buffer };
    const today = (
      await rig.pool.query<{ no: string; ref: string; hash: Buffer; added_at: Date }>(
        `SELECT no, ref, hash, added_at FROM audit_chain WHERE site = 'berlin' AND no > $1 ORDER BY no`,
        [last.last_no],
      )
    ).rows;
    expect(today).toHaveLength(3);
    const [first, victim] = today as [(typeof today)[0], (typeof today)[0]];
    // The attacker removes today's second event (source row and chain row) ...
    await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = $1`, [victim.no]);
    await rig.pool.query(`DELETE FROM events WHERE id = $1`, [victim.ref]);
    // ... and bridges the gap with a checkpoint the retired key signs, labelled with an old day.
    const forged = signCheckpoint(
      {
        site: 'berlin',
        day: '2001-01-01',
        firstNo: Number(first.no),
        lastNo: Number(victim.no),
        count: Number(victim.no) - Number(first.no) + 1,
        prevHash: last.head.toString('hex'),
        head: victim.hash.toString('hex'),
        from: first.added_at.toISOString(),
        to: victim.added_at.toISOString(),
      },
      oldKey,
      createPublicKey(oldKey),
    );
    await insertCheckpoint(rig, forged);
    const report = await verifyRotated();
    // Secure: refused (the retired key signed rows added after its lastDay; days go backwards).
    expect(report.ok, JSON.stringify(report)).toBe(false);
  });

  it('B: an erased-rows list change signed by the retired key with a back-dated audit_log.at is not accepted (nor re-signed at start)', async () => {
    await forgeListChange();
    const report = await verifyRotated();
    expect(report.ok, `${report.erasureList}\n${JSON.stringify(report.mismatch)}`).toBe(false);
  });

  it('B2: ... and the next dashboard start launders it: signed anew by the CURRENT key, it verifies without retiredSigning', async () => {
    await forgeListChange();
    const lines: string[] = [];
    await signErasureListAtStart(
      rig.pool,
      newKey,
      createLogger({ format: 'json', write: (l) => lines.push(l) }),
      new Date(),
      retired,
    );
    const resigned = await rig.pool.query(
      `SELECT 1 FROM audit_log WHERE action = 'audit.erasure-list.sign' AND details -> 'erasedRowsSigned' ->> 'publicKey' = $1 AND at > now() - interval '1 hour'`,
      [newPublic],
    );
    // Secure: a dashboard start does not put the current key's signature on the forged list.
    expect(resigned.rowCount).toBe(0);
  });

  it('C: an instance still on the old key refuses erasures once a new one signed the list, and signs no checkpoint after the new key', async () => {
    // history() already ran a start on the new key (the list re-signed by it): step 3 half done.
    const stillOld = service(oldKey); // its configuration is the pre-rotation one
    await expect(stillOld.erasePerson('agent-bob', {}, ADMIN)).rejects.toMatchObject({
      code: 'IDG_AUDIT_ERASURE_LIST_TAMPERED',
    });
    await expect(new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays()).rejects.toMatchObject({
      code: 'IDG_AUDIT_CHECKPOINT_KEY_FOREIGN',
    });
    // The new key signs on from the old key's checkpoints.
    await expect(new ChainCheckpointer(rig.pool, newKey, retired).checkpointFinishedDays()).resolves.toEqual(
      [],
    );
  });

  it('D: a bundle signed by the retired key, back-dated createdAt, with events after its lastDay, fails export verify --config', async () => {
    // An honest export (the exporter refuses to sign checkpoints it does not trust) ...
    const keyFile = join(work, `${randomBytes(4).toString('hex')}.pem`);
    writeFileSync(keyFile, newKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const config = dashboardConfigFile(
      rig.databaseUrl,
      `keys:\n  signing: { file: ${keyFile} }\n  retiredSigning:\n    - { publicKey: '${oldPublic}', lastDay: '${dayAgo(4)}' }\n`,
    );
    const out = join(work, `forged-${randomBytes(3).toString('hex')}`);
    const from = new Date(Date.now() - DAY).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const made = await runCli(
      ['export', '--from', from, '--to', to, '--out', out, '--format', 'csv', '--config', config.file],
      { env: config.env },
    );
    expect(made.code, made.stderr + made.stdout).toBe(0);
    // ... made over by the holder of the old key: its key, back-dated, signed again with it.
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.rows).toBeGreaterThan(0); // events of today, after lastDay
    manifest.createdAt = `${dayAgo(10)}T00:00:00.000Z`;
    manifest.publicKey = oldPublic;
    delete manifest.retiredKeys;
    const pem = createPublicKey(oldKey).export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(join(out, 'public-key.pem'), pem);
    const pemEntry = manifest.files.find((f: { name: string }) => f.name === 'public-key.pem');
    pemEntry.sha256 = createHash('sha256').update(pem).digest('hex');
    pemEntry.bytes = Buffer.byteLength(pem);
    // The forger leaves out checkpoints the new key signed (it cannot make those).
    for (const section of manifest.chain)
      section.checkpoints = section.checkpoints.filter(
        (c: { publicKey: string }) => c.publicKey === oldPublic,
      );
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    writeFileSync(join(out, 'manifest.json'), text);
    writeFileSync(join(out, 'manifest.sig'), sign(null, Buffer.from(text), oldKey));
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8').replace(
      /^[0-9a-f]{64}( {2}(manifest\.json|manifest\.sig|public-key\.pem))$/gm,
      (_line, rest: string, name: string) =>
        `${createHash('sha256')
          .update(readFileSync(join(out, name)))
          .digest('hex')}${rest}`,
    );
    writeFileSync(join(out, 'SHA256SUMS'), sums);
    writeFileSync(join(out, 'SHA256SUMS.sig'), sign(null, Buffer.from(sums), oldKey));
    expect((await verifyBundle(out)).problems).toEqual([]); // self-consistent, unpinned
    const report = await verifyBundle(out, { current: newPublic, retired });
    // Secure: the retired key cannot vouch for events it could not have signed while in use.
    expect(report.ok, JSON.stringify(report)).toBe(false);
    expect(report.problems.join('\n')).toMatch(
      new RegExp(
        `is dated after ${dayAgo(4)}, the last day the retired key that signed the bundle was in use`,
      ),
    );
  });
  it('E (no rotation needed): the newest change of the erased-rows list is found by id::text order; honest changes at ids 8 and 21 break verify and erasures', async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    await rig.pool.query(`SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 7)`);
    const people = new PeopleStore(rig.pool, randomBytes(32));
    for (const id of ['agent-ada', 'agent-bob']) await people.upsertPerson({ id, displayName: id });
    await rig.event('berlin', DAY, { person: 'agent-ada' });
    await rig.event('berlin', DAY, { person: 'agent-bob' });
    await signErasureListAtStart(rig.pool, newKey, silentLogger, new Date()); // audit entry 8
    // Other staff actions fill the audit log (honest), then a person is erased.
    await rig.pool.query(`SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 20)`);
    await service(newKey).erasePerson('agent-ada', {}, ADMIN);
    const report = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey) });
    expect(report.ok, `${report.erasureList}\n${JSON.stringify(report.mismatch)}`).toBe(true);
    await expect(service(newKey).erasePerson('agent-bob', {}, ADMIN)).resolves.toBeDefined();
  });
  it('H (no key needed): a ranged audit verify bridges a deleted row with an unsigned checkpoint whose span lies outside the range', async () => {
    const last = (
      await rig.pool.query<{ last_no: string }>(
        `SELECT last_no FROM audit_checkpoints WHERE site = 'berlin' ORDER BY last_no DESC LIMIT 1`,
      )
    ).rows[0] as { last_no: string };
    const today = (
      await rig.pool.query<{ no: string; ref: string; hash: Buffer }>(
        `SELECT no, ref, hash FROM audit_chain WHERE site = 'berlin' AND no > $1 ORDER BY no`,
        [last.last_no],
      )
    ).rows;
    const victim = today[1] as (typeof today)[0];
    await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = $1`, [victim.no]);
    await rig.pool.query(`DELETE FROM events WHERE id = $1`, [victim.ref]);
    await rig.pool.query(
      `INSERT INTO audit_checkpoints (site, day, first_no, last_no, count, prev_hash, head, span_from, span_to, public_key, signature)
       VALUES ('berlin', '2000-01-01', $1, $1, 1, $2, $2, '2000-01-01', '2000-01-01', 'ed25519:junk', 'junk')`,
      [victim.no, victim.hash],
    );
    const from = new Date(Date.now() - 6 * 3_600_000);
    const report = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired, from });
    expect(report.ok, JSON.stringify(report)).toBe(false);
  });

  it('a key retired before its last use: audit checkpoint --resign-after signs its later days anew, only over a chain that verifies', async () => {
    const early: RetiredKey[] = [{ publicKey: oldPublic, lastDay: dayAgo(6) }];
    const keyFile = join(work, `${randomBytes(4).toString('hex')}.pem`);
    writeFileSync(keyFile, newKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const config = dashboardConfigFile(
      rig.databaseUrl,
      `keys:\n  signing: { file: ${keyFile} }\n  retiredSigning:\n    - { publicKey: '${oldPublic}', lastDay: '${dayAgo(6)}' }\n`,
    );
    const cli = (...args: string[]) => runCli([...args, '--config', config.file], { env: config.env });
    const before = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired: early });
    expect(before.ok).toBe(false);
    expect(before.mismatch?.problem).toContain(`a central key retired after ${dayAgo(6)}`);

    // A chain that does not verify as it stands is not signed anew.
    const victim = (
      await rig.pool.query<{ ref: string }>(
        `SELECT ref FROM audit_chain WHERE site = 'berlin' AND source = 'event' ORDER BY no LIMIT 1`,
      )
    ).rows[0] as { ref: string };
    const person = (
      await rig.pool.query<{ person: string }>('SELECT person FROM events WHERE id = $1', [victim.ref])
    ).rows[0]?.person;
    await rig.pool.query(`UPDATE events SET person = 'agent-someone-else' WHERE id = $1`, [victim.ref]);
    const refused = await cli('audit', 'checkpoint', '--resign-after', dayAgo(6));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^berlin: not signed anew, the chain does not verify as it stands/m);
    const keys = async () =>
      (
        await rig.pool.query<{ site: string; public_key: string }>(
          `SELECT site, public_key FROM audit_checkpoints WHERE site = 'berlin' ORDER BY day`,
        )
      ).rows.map((r) => r.public_key);
    expect(await keys()).toEqual([oldPublic, newPublic]);

    // Restored, it verifies as it stands: the old key's later days are signed anew, and audited.
    await rig.pool.query('UPDATE events SET person = $2 WHERE id = $1', [victim.ref, person]);
    const done = await cli('audit', 'checkpoint', '--resign-after', dayAgo(6));
    expect(done.code, done.stdout + done.stderr).toBe(0);
    expect(done.stdout).toContain(`berlin: 1 day checkpoint(s) signed anew with keys.signing (${dayAgo(5)})`);
    expect(await keys()).toEqual([newPublic, newPublic]);
    const after = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired: early });
    expect(after.mismatch).toBeUndefined();
    const audited = await rig.pool.query<{ details: { replaced: Array<{ publicKey: string }> } }>(
      `SELECT details FROM audit_log WHERE action = 'audit.checkpoints.resign' AND target = 'berlin'`,
    );
    expect(audited.rows[0]?.details.replaced.map((r) => r.publicKey)).toEqual([oldPublic]);
  });
});
