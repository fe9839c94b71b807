import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { signatureRef, signErasureList } from '../../src/dashboard/audit/erasure-list-signature.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * Every change of the list of erased chain rows is signed with the central key, bound to its
 * audit entry and to the signed change before it: someone who can write to the database alone
 * can neither record a list of their own nor replay an old signature.
 */
describe('the signed list of erased chain rows', () => {
  let rig: RetentionRig;
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);
  const ada = 'agent-ada';
  const bob = 'agent-bob';
  const cem = 'agent-cem';
  let config: { file: string; env: Record<string, string> };

  const service = () =>
    new RetentionService({
      pool: rig.pool,
      clock: rig.clock,
      log: silentLogger,
      settings: retentionSettings({}),
      signingKey: privateKey,
    });
  const unsigned = () =>
    new RetentionService({
      pool: rig.pool,
      clock: rig.clock,
      log: silentLogger,
      settings: retentionSettings({}),
    });
  const verify = () => verifyChains(rig.pool, { publicKey });
  const problem = async () => (await verify()).mismatch?.problem;
  const changes = async () =>
    (
      await rig.pool.query<{ id: string; action: string; details: Record<string, unknown> }>(
        `SELECT id::text, action, details FROM audit_log WHERE details ? 'erasedRows' ORDER BY id`,
      )
    ).rows;
  const signatureOf = (change: { details: Record<string, unknown> } | undefined) =>
    (change?.details.erasedRowsSigned as { signature: string } | undefined)?.signature ?? '';
  /** What an insider does: deletes bob's event, lists its chain row as erased. */
  const hideDeletionOf = async (eventId: string) => {
    await rig.pool.query('DELETE FROM events WHERE id = $1', [eventId]);
    await rig.pool.query(
      `INSERT INTO erased_chain_rows (site, no) SELECT site, no FROM audit_chain WHERE ref = $1`,
      [eventId],
    );
  };
  /** The list's digest as the database computes it, for an entry written with plain SQL. */
  const listDigest = async () =>
    (
      await rig.pool.query<{ d: string }>(
        `SELECT encode(sha256(convert_to(coalesce(string_agg(
                  site || '/' || no || '/' || coalesce(encode(redacted, 'hex'), '-'), ',' ORDER BY site, no), ''), 'UTF8')), 'hex') AS d
           FROM erased_chain_rows`,
      )
    ).rows[0]?.d as string;
  const forgeEntry = (details: Record<string, unknown>) =>
    rig.pool.query(
      `INSERT INTO audit_log (actor, action, details) VALUES ('staff:insider', 'person.erase', $1) RETURNING id::text`,
      [JSON.stringify(details)],
    );

  beforeAll(async () => {
    rig = await startRetentionRig();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'idg-list-')), 'signing.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    config = dashboardConfigFile(rig.databaseUrl, `keys:\n  signing: { file: ${keyFile} }\n`);
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    const people = new PeopleStore(rig.pool, randomBytes(32));
    for (const id of [ada, bob, cem]) await people.upsertPerson({ id, displayName: id });
  });

  it('verifies an honest erasure, signed by the central key', async () => {
    await rig.event('berlin', DAY, { person: ada });
    await service().erasePerson(ada, {}, ADMIN);
    const report = await verify();
    expect(report).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', expired: 1 }] });
    expect(report.erasureList).toMatch(
      /^erasure list: 1 rows, as the central key signed them in its last change \(person\.erase/,
    );
    const [change] = await changes();
    expect(change?.details.erasedRowsSigned).toMatchObject({ rows: 1, prev: null });
  });

  it('verifies an honest prune, which signs the list it leaves', async () => {
    await rig.event('berlin', 2 * DAY, { person: ada });
    await rig.event('berlin', DAY, { person: bob });
    await service().erasePerson(ada, {}, ADMIN);
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = added_at - interval '1 day' WHERE site = 'berlin' AND no = 1`,
    );
    await new ChainCheckpointer(rig.pool, privateKey).checkpointFinishedDays();
    const today = new Date().toISOString().slice(0, 10);
    expect(
      await runCli(['audit', 'prune', '--before', today, '--config', config.file], { env: config.env }),
    ).toMatchObject({ code: 0 });
    const report = await verify();
    expect(report.ok).toBe(true);
    expect(report.erasureList).toMatch(
      /^erasure list: 0 rows, as the central key signed them in its last change \(audit\.chain\.prune/,
    );
    const [erasure, prune] = await changes();
    expect(prune?.details.erasedRowsSigned).toMatchObject({
      prev: signatureRef(signatureOf(erasure)),
    });
  });

  it('finds a person.erase entry written with plain SQL to record a list with added rows', async () => {
    await rig.event('berlin', DAY, { person: ada });
    const bobs = await rig.event('berlin', DAY, { person: bob });
    await service().erasePerson(ada, {}, ADMIN);
    await hideDeletionOf(bobs.id);
    const forged = await forgeEntry({ reference: 'DSR-FAKE', erasedRows: await listDigest() });
    expect(await problem()).toBe(
      `the last change of the list of erased chain rows (person.erase, audit entry ${forged.rows[0]?.id}) is not signed, though audit entry ${(await changes())[0]?.id} before it is a signed change of it: an entry written into the database other than by an erasure or a prune`,
    );
    // The next erasure does not sign over it either.
    await expect(service().erasePerson(cem, {}, ADMIN)).rejects.toMatchObject({
      code: 'IDG_AUDIT_ERASURE_LIST_TAMPERED',
    });
    expect((await rig.pool.query(`SELECT 1 FROM people WHERE id = $1`, [cem])).rowCount).toBe(1);
  });

  it('finds a forged entry signed by another key', async () => {
    await rig.event('berlin', DAY, { person: ada });
    const bobs = await rig.event('berlin', DAY, { person: bob });
    await service().erasePerson(ada, {}, ADMIN);
    const [honest] = await changes();
    await hideDeletionOf(bobs.id);
    const digest = await listDigest();
    const next = Number(
      (await rig.pool.query(`SELECT last_value + 1 AS n FROM audit_log_id_seq`)).rows[0]?.n,
    );
    const prev = signatureRef(signatureOf(honest));
    const other = generateKeyPairSync('ed25519').privateKey;
    const signed = signErasureList({ action: 'person.erase', entry: next, rows: 2, digest, prev }, other);
    const forged = await forgeEntry({ erasedRows: digest, erasedRowsSigned: signed });
    expect(forged.rows[0]?.id).toBe(String(next));
    expect(await problem()).toMatch(
      /^the last change of the list of erased chain rows \(person\.erase, audit entry \d+\) is signed by an unknown key ed25519:/,
    );
  });

  it('finds the newest signed entry copied into a new one: an old signature replayed', async () => {
    await rig.event('berlin', DAY, { person: ada });
    await service().erasePerson(ada, {}, ADMIN);
    const [first] = await changes();
    // List unchanged, so the digest matches: only the place gives it away.
    const copy = await forgeEntry(first?.details as Record<string, unknown>);
    expect(await problem()).toBe(
      `the last change of the list of erased chain rows (person.erase, audit entry ${copy.rows[0]?.id}) carries a signature made to follow another signed change than audit entry ${first?.id}, the one before it: a signature copied from another entry, or a signed change removed or added in between`,
    );
  });

  it('finds a signature made for another entry, put on a new digest in its place', async () => {
    await rig.event('berlin', DAY, { person: ada });
    const bobs = await rig.event('berlin', DAY, { person: bob });
    await service().erasePerson(ada, {}, ADMIN);
    const [honest] = await changes();
    const honestSigned = honest?.details.erasedRowsSigned as { signature: string; publicKey: string };
    await hideDeletionOf(bobs.id);
    await forgeEntry({
      erasedRows: await listDigest(),
      erasedRowsSigned: { ...honestSigned, rows: 2, prev: signatureRef(honestSigned.signature) },
    });
    expect(await problem()).toMatch(
      /\(person\.erase, audit entry \d+\): its signature does not match \(it was made for another digest, action, audit entry, list size or place\)$/,
    );
  });

  it('accepts changes recorded before they were signed until the first signed one, and none after', async () => {
    await rig.event('berlin', DAY, { person: ada });
    const bobs = await rig.event('berlin', DAY, { person: bob });
    await unsigned().erasePerson(ada, {}, ADMIN);
    const before = await verify();
    expect(before.ok).toBe(true);
    expect(before.erasureList).toMatch(
      /unsigned: accepted as written before changes of the list were signed/,
    );
    await rig.event('berlin', DAY, { person: cem });
    await service().erasePerson(cem, {}, ADMIN);
    expect(await verify()).toMatchObject({
      ok: true,
      erasureList: expect.stringMatching(/as the central key signed them/),
    });
    // An erasure without the key would now leave a change that cannot be told from a forged one.
    await expect(unsigned().erasePerson(bob, {}, ADMIN)).rejects.toMatchObject({
      code: 'IDG_AUDIT_ERASURE_LIST_UNSIGNED',
    });
    await hideDeletionOf(bobs.id);
    await forgeEntry({ erasedRows: await listDigest() });
    expect(await problem()).toMatch(
      /is not signed, though audit entry \d+ before it is a signed change of it/,
    );
  });

  it('signs the list at a start with the central key, which ends the allowance for unsigned changes at once', async () => {
    await rig.event('berlin', DAY, { person: ada });
    await unsigned().erasePerson(ada, {}, ADMIN);
    await signErasureListAtStart(rig.pool, privateKey, silentLogger);
    await signErasureListAtStart(rig.pool, privateKey, silentLogger); // once only
    expect((await changes()).map((c) => c.action)).toEqual(['person.erase', 'audit.erasure-list.sign']);
    expect(await verify()).toMatchObject({
      ok: true,
      erasureList: expect.stringMatching(/audit\.erasure-list\.sign/),
    });

    // A list changed unseen before the start is not signed, and the start says why.
    await rig.pool.query(`TRUNCATE audit_log`);
    await rig.pool.query(`INSERT INTO erased_chain_rows (site, no) VALUES ('berlin', 99)`);
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', format: 'json', write: (line) => lines.push(line) });
    await signErasureListAtStart(rig.pool, privateKey, log);
    expect(await changes()).toEqual([]);
    expect(lines.join('\n')).toContain('not signed; run identgate audit verify');
  });

  it('says honestly that the list is not signed where no central key is configured', async () => {
    await rig.event('berlin', DAY, { person: ada });
    await unsigned().erasePerson(ada, {}, ADMIN);
    const report = await verifyChains(rig.pool, {});
    expect(report.ok).toBe(true);
    expect(report.erasureList).toMatch(/^erasure list not signed: no central key \(keys\.signing\); 1 rows/);
  });

  it('reports the list on the command line, and fails there on a forged entry', async () => {
    await rig.event('berlin', DAY, { person: ada });
    const bobs = await rig.event('berlin', DAY, { person: bob });
    await service().erasePerson(ada, {}, ADMIN);
    const cli = () => runCli(['audit', 'verify', '--config', config.file], { env: config.env });
    const honest = await cli();
    expect(honest).toMatchObject({ code: 0 });
    expect(honest.stdout).toContain('erasure list: 1 rows, as the central key signed them');
    await hideDeletionOf(bobs.id);
    await forgeEntry({ erasedRows: await listDigest() });
    const forged = await cli();
    expect(forged.code).toBe(1);
    expect(forged.stdout).toMatch(
      /MISMATCH in chain _central: the last change of the list of erased chain rows \(person\.erase, audit entry \d+\) is not signed/,
    );
  });
});
