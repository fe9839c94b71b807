import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle } from '../../src/dashboard/audit/bundle-verify.js';
import type { RetiredKey } from '../../src/dashboard/audit/central-keys.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { signErasureListAtStart } from '../../src/dashboard/audit/erasure-list.js';
import { signatureRef, signErasureList } from '../../src/dashboard/audit/erasure-list-signature.js';
import { writeHandover } from '../../src/dashboard/audit/key-handover.js';
import { checkSigningKeyAtStart } from '../../src/dashboard/audit/signing-key-use.js';
import { AlarmStore } from '../../src/dashboard/storage/alarm-store.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { ADMIN, DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { retentionServiceWith } from '../helpers/rotation-history.js';

/**
 * Rotating the central signing key (docs/security.md): what the old key signed — day checkpoints,
 * the erased-rows list, export bundles — stays provable under the new one, as far as
 * keys.retiredSigning says the old key was in use, and erasures go on.
 */
describe('rotating the central signing key', () => {
  let rig: RetentionRig;
  let work: string;
  const oldKey = generateKeyPairSync('ed25519').privateKey;
  const newKey = generateKeyPairSync('ed25519').privateKey;
  const oldPublic = exportPublicKey(createPublicKey(oldKey));
  const newPublic = exportPublicKey(createPublicKey(newKey));
  const today = new Date().toISOString().slice(0, 10);
  const yesterday = new Date(Date.now() - DAY).toISOString().slice(0, 10);
  const threeDaysAgo = new Date(Date.now() - 3 * DAY).toISOString().slice(0, 10);
  const retiredToday: RetiredKey[] = [{ publicKey: oldPublic, lastDay: today }];
  const from = new Date(NOW - 10 * DAY).toISOString();
  const to = new Date(NOW).toISOString();

  const service = (signingKey: KeyObject, retiredKeys?: RetiredKey[]) =>
    retentionServiceWith(rig, signingKey, retiredKeys);
  const keyFile = (key: KeyObject) => {
    const file = join(work, `${randomBytes(4).toString('hex')}.pem`);
    writeFileSync(file, key.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    return file;
  };
  const configWith = (key: KeyObject, retired: RetiredKey[] = []) =>
    dashboardConfigFile(
      rig.databaseUrl,
      `keys:\n  signing: { file: ${keyFile(key)} }\n${
        retired.length > 0
          ? `  retiredSigning:\n${retired.map((r) => `    - { publicKey: '${r.publicKey}', lastDay: '${r.lastDay}' }\n`).join('')}`
          : ''
      }`,
    );
  const cli = (config: { file: string; env: Record<string, string> }, ...args: string[]) =>
    runCli([...args, '--config', config.file], { env: config.env });
  const exportWith = async (config: { file: string; env: Record<string, string> }, name: string) => {
    const out = join(work, name);
    const result = await cli(config, 'export', '--from', from, '--to', to, '--out', out, '--format', 'csv');
    expect(result.code, result.stderr).toBe(0);
    return out;
  };
  let oldBundle: string;

  beforeAll(async () => {
    rig = await startRetentionRig();
    work = mkdtempSync(join(tmpdir(), 'idg-rotation-'));
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    const people = new PeopleStore(rig.pool, randomBytes(32));
    for (const id of ['agent-ada', 'agent-bob', 'agent-cem'])
      await people.upsertPerson({ id, displayName: id });
    // Under the old key: events, an erasure (the list signed by it), their day signed by it.
    await rig.event('berlin', 3 * DAY, { person: 'agent-ada' });
    await rig.event('berlin', 3 * DAY, { person: 'agent-bob', kind: 'access.granted' });
    await service(oldKey).erasePerson('agent-ada', {}, ADMIN);
    await rig.pool.query(`UPDATE audit_chain SET added_at = added_at - interval '2 days'`);
    await new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays();
    oldBundle = await exportWith(configWith(oldKey), 'before-rotation');
    // The rotation: a day later, signed by the new key, after its first start's handover.
    await writeHandover(rig.pool, newKey);
    await rig.event('berlin', 2 * DAY, { person: 'agent-cem', kind: 'access.granted' });
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = now() - interval '1 day' WHERE added_at > now() - interval '1 day'`,
    );
    await new ChainCheckpointer(rig.pool, newKey, retiredToday).checkpointFinishedDays();
  });
  afterAll(async () => {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('has days signed by both keys', async () => {
    const signers = await rig.pool.query<{ public_key: string }>(
      `SELECT DISTINCT public_key FROM audit_checkpoints`,
    );
    expect(signers.rows.map((r) => r.public_key).sort()).toEqual([oldPublic, newPublic].sort());
  });

  it('audit verify accepts the old key for its days, and only with keys.retiredSigning', async () => {
    const rotated = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: retiredToday,
    });
    expect(rotated.mismatch).toBeUndefined();
    expect(rotated.ok).toBe(true);
    expect(rotated.erasureList).toContain(`as a retired central key (${oldPublic}) signed them`);
    // The report says when the chains were handed over (signed: a handover recorded again later shows).
    expect(rotated.handover).toMatch(
      new RegExp(
        `^chains handed over to the current central key on ${today}T[\\d:.]+Z \\(keys\\.signing\\.handover\\)$`,
      ),
    );

    const notRetired = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey) });
    expect(notRetired.ok).toBe(false);
    expect(notRetired.mismatch?.problem).toContain(
      `is signed by an unknown key ${oldPublic}, not by the central key ${newPublic}`,
    );

    // Retired before the days it signed: a leaked old key cannot vouch for anything later.
    const tooEarly = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: [{ publicKey: oldPublic, lastDay: threeDaysAgo }],
    });
    expect(tooEarly.ok).toBe(false);
    expect(tooEarly.mismatch?.problem).toContain(`a central key retired after ${threeDaysAgo}`);

    const viaCli = await cli(configWith(newKey, retiredToday), 'audit', 'verify');
    expect(viaCli.code, viaCli.stdout + viaCli.stderr).toBe(0);
  });

  it('exports name the retired key; export verify checks it against the configuration', async () => {
    const bundle = await exportWith(configWith(newKey, retiredToday), 'after-rotation');
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ publicKey: newPublic, retiredKeys: retiredToday });
    expect(
      manifest.chain.flatMap((s: { checkpoints: { publicKey: string }[] }) =>
        s.checkpoints.map((c) => c.publicKey),
      ),
    ).toEqual(expect.arrayContaining([oldPublic, newPublic]));
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true, problems: [] });
    const configured = await cli(configWith(newKey, retiredToday), 'export', 'verify', bundle);
    expect(configured.code, configured.stdout).toBe(0);
    // A configuration that does not retire the old key (or retires it earlier) does not trust it.
    const unknown = await cli(configWith(newKey), 'export', 'verify', bundle);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain(`the manifest vouches for ${oldPublic} until ${today}`);
    expect(
      (
        await verifyBundle(bundle, {
          current: newPublic,
          retired: [{ publicKey: oldPublic, lastDay: yesterday }],
        })
      ).problems,
    ).toContain(
      `the manifest vouches for ${oldPublic} until ${today}, which the configuration does not retire so (keys.retiredSigning)`,
    );
  });

  it('a bundle the old key signed before the rotation still verifies against the new configuration', async () => {
    expect(JSON.parse(readFileSync(join(oldBundle, 'manifest.json'), 'utf8')).publicKey).toBe(oldPublic);
    expect(await verifyBundle(oldBundle, { current: newPublic, retired: retiredToday })).toMatchObject({
      ok: true,
    });
    expect(
      (
        await verifyBundle(oldBundle, {
          current: newPublic,
          retired: [{ publicKey: oldPublic, lastDay: threeDaysAgo }],
        })
      ).problems.join('\n'),
    ).toMatch(
      new RegExp(
        `^chain berlin: checkpoint \\S+ is signed by ${oldPublic}, a central key retired after ${threeDaysAgo}$`,
        'm',
      ),
    );
    expect((await verifyBundle(oldBundle, { current: newPublic, retired: [] })).problems).toContain(
      'the bundle is signed by a key other than the central signing key',
    );
  });

  it('an export refuses to sign checkpoints its configuration does not trust', async () => {
    // The old key signed a day later than this configuration says it was in use.
    const config = configWith(newKey, [{ publicKey: oldPublic, lastDay: threeDaysAgo }]);
    const out = join(work, 'early');
    const refused = await cli(config, 'export', '--from', from, '--to', to, '--out', out, '--format', 'csv');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      new RegExp(
        `chain \\S+: checkpoint \\S+ is signed by ${oldPublic}, a central key retired after ${threeDaysAgo}; nothing exported`,
      ),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('erasures go on under the new key, following the old key’s signed change; without the retired key they stop', async () => {
    await expect(service(newKey).erasePerson('agent-bob', {}, ADMIN)).rejects.toMatchObject({
      code: 'IDG_AUDIT_ERASURE_LIST_TAMPERED',
    });
    await service(newKey, retiredToday).erasePerson('agent-bob', {}, ADMIN);
    const changes = (
      await rig.pool.query<{
        details: { erasedRowsSigned: { publicKey: string; prev: string | null; signature: string } };
      }>(`SELECT details FROM audit_log WHERE details ? 'erasedRowsSigned' ORDER BY id`)
    ).rows.map((r) => r.details.erasedRowsSigned);
    expect(changes.map((c) => c.publicKey)).toEqual([oldPublic, newPublic]);
    expect(changes[1]?.prev).toBe(signatureRef(changes[0]?.signature as string));
    const report = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: retiredToday,
    });
    expect(report.erasureList).toMatch(/as the central key signed them in its last change \(person\.erase/);
    expect(report.ok).toBe(true);
    // The old key's days need it retired no earlier than they were signed.
    const early = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: [{ publicKey: oldPublic, lastDay: threeDaysAgo }],
    });
    expect(early.mismatch?.problem).toMatch(
      new RegExp(`^checkpoint \\S+ is signed by ${oldPublic}, a central key retired after ${threeDaysAgo}$`),
    );
    const unknown = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey) });
    expect(unknown.mismatch?.problem).toMatch(
      new RegExp(
        `^checkpoint \\S+ is signed by an unknown key ${oldPublic}, not by the central key ${newPublic} \\(a key keys\\.signing replaced belongs in keys\\.retiredSigning\\)$`,
      ),
    );
  });

  it('a dashboard start signs the list anew when its last change is the retired key’s', async () => {
    // As before any instance on the new key changed the list: its change taken back out.
    await rig.pool.query(`DELETE FROM audit_log WHERE details -> 'erasedRowsSigned' ->> 'publicKey' = $1`, [
      newPublic,
    ]);
    // An instance still on the old key changes the list during the roll-out (written as it would).
    const newest = (
      await rig.pool.query<{ details: { erasedRowsSigned: { signature: string } } }>(
        `SELECT details FROM audit_log WHERE details ? 'erasedRowsSigned' ORDER BY id DESC LIMIT 1`,
      )
    ).rows[0];
    const state = (
      await rig.pool.query<{ digest: string; rows: number }>(
        `SELECT encode(sha256(convert_to(coalesce(string_agg(
                  site || '/' || no || '/' || coalesce(encode(redacted, 'hex'), '-'), ',' ORDER BY site, no), ''), 'UTF8')), 'hex') AS digest,
                count(*)::int AS rows
           FROM erased_chain_rows`,
      )
    ).rows[0] as { digest: string; rows: number };
    const entry = Number(
      (await rig.pool.query(`SELECT last_value + 1 AS n FROM audit_log_id_seq`)).rows[0]?.n,
    );
    const prev = signatureRef(newest?.details.erasedRowsSigned.signature as string);
    const signed = signErasureList({ action: 'person.erase', entry, ...state, prev }, oldKey);
    await rig.pool.query(
      `INSERT INTO audit_log (actor, action, details) VALUES ('staff:old-instance', 'person.erase', $1)`,
      [JSON.stringify({ erasedRows: state.digest, erasedRowsSigned: signed })],
    );
    const before = await verifyChains(rig.pool, {
      publicKey: createPublicKey(newKey),
      retired: retiredToday,
    });
    expect(before.erasureList).toContain(`as a retired central key (${oldPublic}) signed them`);

    await signErasureListAtStart(rig.pool, newKey, silentLogger, new Date(), retiredToday);
    const after = await verifyChains(rig.pool, { publicKey: createPublicKey(newKey), retired: retiredToday });
    expect(after.erasureList).toMatch(
      /as the central key signed them in its last change \(audit\.erasure-list\.sign/,
    );
    // Once signed anew, a second start leaves it be.
    const resigned = async () =>
      (await rig.pool.query(`SELECT 1 FROM audit_log WHERE action = 'audit.erasure-list.sign'`)).rowCount;
    expect(await resigned()).toBe(1);
    await signErasureListAtStart(rig.pool, newKey, silentLogger, new Date(), retiredToday);
    expect(await resigned()).toBe(1);
  });

  it('a start names checkpoints no configured key covers, raises a warning, and audits the key in use', async () => {
    const alarms = new AlarmStore(rig.pool);
    const open = async () =>
      (
        await rig.pool.query<{ detail: string }>(
          `SELECT detail FROM alarms WHERE key = 'central-key-not-retired' AND cleared_at IS NULL`,
        )
      ).rows;
    const inUse = async () =>
      (
        await rig.pool.query<{ details: Record<string, string> }>(
          `SELECT details FROM audit_log WHERE action = 'keys.signing.in-use' ORDER BY id`,
        )
      ).rows.map((r) => r.details);
    const oldDays = (
      await rig.pool.query<{ last: string }>(
        `SELECT max(day)::text AS last FROM audit_checkpoints WHERE public_key = $1`,
        [oldPublic],
      )
    ).rows[0]?.last as string;

    // Rotated without step 3: the old key's days are named, with the lastDay that covers them.
    const forgot = await checkSigningKeyAtStart(
      rig.pool,
      newKey,
      { current: newPublic, retired: [] },
      alarms,
      silentLogger,
    );
    expect(forgot.problems).toHaveLength(1);
    expect(forgot.problems[0]).toContain(
      `are signed by ${oldPublic}, which is neither keys.signing nor in keys.retiredSigning: audit verify fails on them; if it is the key keys.signing replaced, add { publicKey: '${oldPublic}', lastDay: '${oldDays}' } to keys.retiredSigning`,
    );
    expect(forgot.changed).toMatchObject([{ alarm: 'central-key-not-retired', severity: 'warning' }]);
    expect(await open()).toHaveLength(1);
    expect(await inUse()).toEqual([{ publicKey: newPublic }]);

    // Retired too early: named as such.
    const early = await checkSigningKeyAtStart(
      rig.pool,
      newKey,
      { current: newPublic, retired: [{ publicKey: oldPublic, lastDay: threeDaysAgo }] },
      alarms,
      silentLogger,
    );
    expect(early.problems[0]).toContain(`retired in keys.retiredSigning after ${threeDaysAgo}`);

    // Configured as the procedure says: no problem, the warning cleared, the same key not audited again.
    const fixed = await checkSigningKeyAtStart(
      rig.pool,
      newKey,
      { current: newPublic, retired: retiredToday },
      alarms,
      silentLogger,
    );
    expect(fixed.problems).toEqual([]);
    expect(await open()).toEqual([]);
    expect(await inUse()).toEqual([{ publicKey: newPublic }]);

    // Another key in use (an instance not switched yet): the change is audited with the one before.
    await checkSigningKeyAtStart(
      rig.pool,
      oldKey,
      { current: oldPublic, retired: [{ publicKey: newPublic, lastDay: today }] },
      alarms,
      silentLogger,
    );
    expect(await inUse()).toEqual([
      { publicKey: newPublic },
      { publicKey: oldPublic, previous: newPublic, previousLastDay: today },
    ]);
    // Forward again, then an instance left on the replaced key: told to switch, nothing recorded.
    await checkSigningKeyAtStart(
      rig.pool,
      newKey,
      { current: newPublic, retired: retiredToday },
      alarms,
      silentLogger,
    );
    const left = await checkSigningKeyAtStart(
      rig.pool,
      oldKey,
      { current: oldPublic, retired: [] },
      alarms,
      silentLogger,
    );
    expect(left.problems).toEqual([
      `this instance signs with ${oldPublic}, which ${newPublic} has replaced (keys.signing.in-use in the audit log): switch its keys.signing to the current key and list ${oldPublic} in keys.retiredSigning (docs/security.md#rotating-the-central-signing-key)`,
    ]);
    expect((await inUse()).at(-1)).toMatchObject({ publicKey: newPublic });
    // Its checkpoint job signs nothing either.
    await expect(new ChainCheckpointer(rig.pool, oldKey).checkpointFinishedDays()).rejects.toMatchObject({
      code: 'IDG_AUDIT_CHECKPOINT_KEY_FOREIGN',
      message: expect.stringContaining(`the central key in use is ${newPublic}`),
    });
  });

  it('identgate audit handover records, signed, where the chains stand (the deliberate way, after checking)', async () => {
    const result = await cli(configWith(newKey, retiredToday), 'audit', 'handover');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^chains handed over to the current central key on \S+:$/m);
    expect(result.stdout).toMatch(/^ {2}berlin: up to row \d+, head [0-9a-f]{64}$/m);
    const recorded = await rig.pool.query<{ actor: string }>(
      `SELECT actor FROM audit_log WHERE action = 'keys.signing.handover' ORDER BY id DESC LIMIT 1`,
    );
    expect(recorded.rows[0]?.actor).toMatch(/^cli:/);
  });
});
