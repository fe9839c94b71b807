import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeAudit } from '../../src/dashboard/audit/audit-log.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { WorkstationAuditExpiry } from '../../src/dashboard/presence/workstation-audit-expiry.js';
import { EventStore } from '../../src/dashboard/storage/event-store.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { runCli } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { signedEvent } from '../helpers/events.js';
import { ADMIN, DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** The tamper-evident log: chains written by the database itself, day checkpoints, `audit verify`. */
describe('hash chain and day checkpoints', () => {
  let rig: RetentionRig;
  let config: { file: string; env: Record<string, string> };
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = createPublicKey(privateKey);

  beforeAll(async () => {
    rig = await startRetentionRig();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'idg-chain-')), 'signing.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    config = dashboardConfigFile(rig.databaseUrl, `keys:\n  signing: { file: ${keyFile} }\n`);
  });
  afterAll(() => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config.file], { env: config.env });
  const verify = () => verifyChains(rig.pool, { publicKey });
  const chain = async (site: string) =>
    (
      await rig.pool.query<{ no: string; source: string }>(
        'SELECT no, source FROM audit_chain WHERE site = $1 ORDER BY no',
        [site],
      )
    ).rows.map((r) => `${r.no}:${r.source}`);
  /** Moves the first `rows` rows of a chain `days` back, as if they had been ingested then. */
  const backdate = (site: string, rows: number, days: number) =>
    rig.pool.query(
      `UPDATE audit_chain SET added_at = added_at - make_interval(days => $3) WHERE site = $1 AND no <= $2`,
      [site, rows, days],
    );
  const checkpoint = () => new ChainCheckpointer(rig.pool, privateKey).checkpointFinishedDays();

  it('chains events and alarms per site and staff actions centrally, in the order they were written', async () => {
    await rig.event('berlin', DAY);
    await rig.alarm('berlin', DAY);
    await rig.event('hamburg', DAY);
    await rig.event('berlin', 2 * DAY);
    await writeAudit(rig.pool, { actor: ADMIN, action: 'test.action' });
    expect(await chain('berlin')).toEqual(['1:event', '2:alarm', '3:event']);
    expect(await chain('hamburg')).toEqual(['1:event']);
    expect(await chain('_central')).toEqual(['1:audit']);
    const report = await verify();
    expect(report.ok).toBe(true);
    expect(report.chains.map((c) => [c.site, c.rows, c.unsigned])).toEqual([
      ['_central', 1, 1],
      ['berlin', 3, 3],
      ['hamburg', 1, 1],
    ]);
  });

  it('chains a statement that stores events of several sites, per site in the order of the statement', async () => {
    await rig.event('berlin', DAY);
    // One INSERT as the ingest writes a batch: two sites interleaved.
    const ids = await rig.pool.query<{ id: string; site: string }>(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       SELECT gen_random_uuid(), (SELECT max(occurred_at) FROM events), 1, CASE WHEN i % 2 = 0 THEN 'berlin' ELSE 'hamburg' END,
              'gw-batch', i, 'door.opened', 'main', NULL, '{"door":"main"}', 'sig-' || i
         FROM generate_series(1, 6) AS i
       RETURNING id, site`,
    );
    await rig.event('hamburg', DAY);
    const refs = async (site: string) =>
      (
        await rig.pool.query<{ ref: string }>(
          `SELECT c.ref FROM audit_chain c WHERE c.site = $1 AND c.source = 'event' ORDER BY c.no`,
          [site],
        )
      ).rows.map((r) => r.ref);
    const inserted = (site: string) => ids.rows.filter((r) => r.site === site).map((r) => r.id);
    expect(await chain('berlin')).toEqual(['1:event', '2:event', '3:event', '4:event']);
    expect((await refs('berlin')).slice(1)).toEqual(inserted('berlin'));
    expect(await chain('hamburg')).toEqual(['1:event', '2:event', '3:event', '4:event']);
    expect((await refs('hamburg')).slice(0, 3)).toEqual(inserted('hamburg'));
    const report = await verify();
    expect(report.ok).toBe(true);
    expect(report.chains.map((c) => [c.site, c.rows])).toEqual([
      ['berlin', 4],
      ['hamburg', 4],
    ]);
  });

  it('finds a changed event, names its row, and the command exits non-zero', async () => {
    await rig.event('berlin', DAY, { person: 'p-1' });
    const { id } = await rig.event('berlin', DAY, { person: 'p-2' });
    await rig.event('berlin', DAY, { person: 'p-3' });
    await rig.pool.query(`UPDATE events SET person = 'p-9' WHERE id = $1`, [id]);
    const report = await verify();
    expect(report.mismatch).toMatchObject({ site: 'berlin', no: 2, source: 'event', ref: id });
    const result = await cli('audit', 'verify', '--site', 'berlin');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `MISMATCH in chain berlin row 2 (event ${id}): its event row was changed`,
    );
  });

  it('links the digest the ingest computed before its insert, and finds one that does not match its event', async () => {
    // As the ingest stores a batch: digests computed first, then stored with the events.
    const store = new EventStore(rig.pool);
    const key = generateSigningKeyPair().privateKey;
    const time = new Date(Date.now() - DAY).toISOString();
    const batch = [1, 2, 3].map((seq) =>
      signedEvent(
        {
          site: 'berlin',
          gateway: 'gw-berlin',
          seq,
          kind: 'door.opened',
          data: { door: 'main', n: 'ä"\\' },
          time,
        },
        key,
      ),
    );
    await store.ensurePartitions([time.slice(0, 10)]);
    const prepared = store.prepareInsert(batch);
    await store.digest(prepared);
    await store.insert(prepared);
    // Exactly what the trigger would have computed from the stored row.
    const rows = await rig.pool.query<{ supplied: Buffer; content: Buffer; linked: Buffer }>(
      `SELECT e.chain_digest AS supplied, identgate_event_digest(e) AS content, c.digest AS linked
         FROM events e JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text ORDER BY c.no`,
    );
    expect(rows.rows).toHaveLength(3);
    for (const row of rows.rows) {
      expect(row.supplied).toHaveLength(32);
      expect(row.supplied.equals(row.content)).toBe(true);
      expect(row.linked.equals(row.content)).toBe(true);
    }
    expect((await verify()).ok).toBe(true);

    // A writer that supplies a digest other than its event's content: linked as given, and
    // verify reports it as it reports an event changed after it was chained.
    const { id } = await rig.event('berlin', DAY);
    const forged = await rig.pool.query<{ id: string }>(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature, chain_digest)
       SELECT gen_random_uuid(), occurred_at, 1, site, gateway, 9999, kind, door, person, data, signature,
              sha256('not this event')
         FROM events WHERE id = $1
       RETURNING id`,
      [id],
    );
    const report = await verify();
    expect(report.mismatch).toMatchObject({
      site: 'berlin',
      no: 5,
      source: 'event',
      ref: forged.rows[0]?.id,
      problem: expect.stringContaining('its event row was changed'),
    });
  });

  it('finds an event deleted outside retention', async () => {
    await rig.event('berlin', DAY);
    const { id } = await rig.event('berlin', DAY);
    await rig.pool.query('DELETE FROM events WHERE id = $1', [id]);
    expect((await verify()).mismatch).toMatchObject({
      no: 2,
      problem: 'its event row is missing and no deletion log entry covers it',
    });
  });

  it('finds a chain row removed or rewritten', async () => {
    for (let i = 0; i < 4; i += 1) await rig.event('berlin', DAY);
    await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no = 2`);
    expect((await verify()).mismatch).toMatchObject({
      no: 3,
      problem: expect.stringMatching(/rows 2–2 are missing/),
    });
    await rig.pool.query('TRUNCATE audit_chain');
    for (let i = 0; i < 3; i += 1) await rig.event('hamburg', DAY);
    await rig.pool.query(
      `UPDATE audit_chain SET digest = sha256('forged') WHERE site = 'hamburg' AND no = 2`,
    );
    expect((await verify()).mismatch).toMatchObject({
      site: 'hamburg',
      no: 2,
      problem: expect.stringMatching(/link hash/),
    });
  });

  it('signs each finished day once, and verifies its head and signature', async () => {
    for (let i = 0; i < 5; i += 1) await rig.event('berlin', DAY);
    await backdate('berlin', 3, 2);
    await backdate('berlin', 4, 1);
    const made = await checkpoint();
    expect(made.map((c) => [c.site, c.firstNo, c.lastNo, c.count])).toEqual([
      ['berlin', 1, 3, 3],
      ['berlin', 4, 4, 1],
    ]);
    expect(await checkpoint()).toEqual([]);
    const report = await verify();
    expect(report).toMatchObject({
      ok: true,
      chains: [{ site: 'berlin', rows: 5, checkpoints: 2, unsigned: 1 }],
    });
    await rig.pool.query(`UPDATE audit_checkpoints SET count = 2, first_no = 2 WHERE first_no = 1`);
    expect((await verify()).mismatch?.problem).toMatch(/checkpoint .* has an invalid signature/);
  });

  it('refuses checkpoints signed by another key', async () => {
    await rig.event('berlin', DAY);
    await backdate('berlin', 1, 1);
    await checkpoint();
    const other = createPublicKey(generateKeyPairSync('ed25519').privateKey);
    const report = await verifyChains(rig.pool, { publicKey: other });
    expect(report.mismatch?.problem).toMatch(/not by the central key/);
  });

  it('still verifies after retention deleted an earlier day and its chain rows were pruned', async () => {
    await rig.service.setPolicy({ dataClass: 'access-events', scope: 'global', days: 60 }, ADMIN);
    await rig.pool.query('TRUNCATE audit_chain, audit_log'); // the policy change joined the central chain
    for (let i = 0; i < 3; i += 1) await rig.event('berlin', 70 * DAY);
    for (let i = 0; i < 2; i += 1) await rig.event('berlin', DAY);
    await backdate('berlin', 3, 1);
    await checkpoint();
    const report = await rig.service.runNow({ dryRun: false });
    expect(report.entries.reduce((n, e) => n + e.count, 0)).toBe(3);
    expect(await verify()).toMatchObject({ ok: true, chains: [{ site: 'berlin', rows: 5, expired: 3 }] });
    // The old day's chain rows go too; its checkpoint remains and the next day links to its head.
    const today = new Date().toISOString().slice(0, 10);
    const pruned = await cli('audit', 'prune', '--before', today);
    expect(pruned).toMatchObject({
      code: 0,
      stdout: `3 chain rows of signed days before ${today} deleted (rows whose sources are still stored stay); their checkpoints remain\n`,
    });
    const berlin = () => verifyChains(rig.pool, { site: 'berlin', publicKey });
    expect(await berlin()).toMatchObject({ ok: true, chains: [{ site: 'berlin', rows: 2, checkpoints: 1 }] });
    await rig.event('berlin', DAY);
    expect(await chain('berlin')).toEqual(['4:event', '5:event', '6:event']);
    expect((await berlin()).ok).toBe(true);
    expect((await verify()).ok).toBe(true); // the prune's own audit entry included
  });

  it('keeps the chain rows of a signed day whose events are still stored, so a rewrite of them is found', async () => {
    const victim = await rig.event('berlin', 3 * DAY, { person: 'p-1' });
    await rig.event('berlin', 3 * DAY - 1000, { person: 'p-2' });
    await backdate('berlin', 2, 2);
    await checkpoint();
    await rig.event('berlin', DAY);
    expect((await verify()).ok).toBe(true);
    const today = new Date().toISOString().slice(0, 10);
    expect(await cli('audit', 'prune', '--before', today)).toMatchObject({
      code: 0,
      stdout: `0 chain rows of signed days before ${today} deleted (rows whose sources are still stored stay); their checkpoints remain\n`,
    });
    expect(await chain('berlin')).toEqual(['1:event', '2:event', '3:event']);
    await rig.pool.query(`UPDATE events SET person = 'p-framed' WHERE id = $1`, [victim.id]);
    expect((await verify()).mismatch).toMatchObject({
      site: 'berlin',
      no: 1,
      problem: expect.stringMatching(/was changed/),
    });
  });

  it('finds the oldest rows of a chain deleted with their sources where no prune deleted them', async () => {
    const oldest = await rig.event('berlin', 3 * DAY);
    await rig.event('berlin', 3 * DAY - 1000);
    await backdate('berlin', 2, 2);
    await checkpoint();
    await rig.event('berlin', DAY);
    expect((await verify()).ok).toBe(true);
    // Someone deletes the oldest event and the signed day's chain rows, as a prune would.
    await rig.pool.query(
      "DELETE FROM events WHERE occurred_at <= (SELECT occurred_at FROM events WHERE id = $1) + interval '1 second'",
      [oldest.id],
    );
    await rig.pool.query(`DELETE FROM audit_chain WHERE site = 'berlin' AND no <= 2`);
    expect((await verify()).mismatch).toMatchObject({
      site: 'berlin',
      no: 3,
      problem: 'rows 1–2 are missing: audit prune never deleted rows of this chain',
    });
  });

  it('prunes nothing while the log does not verify', async () => {
    await rig.event('berlin', 3 * DAY);
    const gone = await rig.event('berlin', 3 * DAY - 1000);
    await backdate('berlin', 2, 2);
    await checkpoint();
    await rig.pool.query('DELETE FROM events WHERE id = $1', [gone.id]);
    const today = new Date().toISOString().slice(0, 10);
    const refused = await cli('audit', 'prune', '--before', today);
    expect(refused).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('nothing pruned: the log must verify first'),
    });
    expect(await chain('berlin')).toEqual(['1:event', '2:event']);
  });

  it('prunes up to the signed day before the first row whose source is still stored', async () => {
    await rig.service.setPolicy({ dataClass: 'access-events', scope: 'global', days: 60 }, ADMIN);
    await rig.pool.query('TRUNCATE audit_chain, audit_log');
    await rig.event('berlin', 70 * DAY);
    await rig.event('berlin', 70 * DAY);
    await backdate('berlin', 2, 3);
    await rig.event('berlin', DAY);
    await backdate('berlin', 3, 2);
    await rig.event('berlin', DAY);
    await checkpoint(); // two signed days: rows 1–2, then row 3; row 4 is today's
    await rig.service.runNow({ dryRun: false }); // the two old events go
    const today = new Date().toISOString().slice(0, 10);
    expect(await cli('audit', 'prune', '--before', today)).toMatchObject({
      code: 0,
      stdout: /^2 chain rows/,
    });
    expect(await chain('berlin')).toEqual(['3:event', '4:event']);
    expect((await verifyChains(rig.pool, { site: 'berlin', publicKey })).ok).toBe(true);
  });

  it('finds an event, alarm or staff action stored without its chain row', async () => {
    await rig.event('berlin', 2 * DAY);
    await rig.pool.query('ALTER TABLE events DISABLE TRIGGER events_chain');
    let forged: { id: string };
    try {
      forged = await rig.event('berlin', DAY, { person: 'p-forged' });
    } finally {
      await rig.pool.query('ALTER TABLE events ENABLE TRIGGER events_chain');
    }
    await rig.event('berlin', DAY);
    expect((await verify()).mismatch).toMatchObject({
      site: 'berlin',
      no: null,
      source: 'event',
      ref: forged.id,
      problem: expect.stringMatching(/has no row in its chain/),
    });
    // Also within a range that holds its time, and not outside it.
    const around = { from: new Date(NOW - 3 * DAY), to: new Date(NOW) };
    expect((await verifyChains(rig.pool, { publicKey, site: 'berlin', ...around })).ok).toBe(false);
    const earlier = { from: new Date(NOW - 5 * DAY), to: new Date(NOW - 3 * DAY) };
    expect((await verifyChains(rig.pool, { publicKey, site: 'berlin', ...earlier })).ok).toBe(true);
    await rig.pool.query('DELETE FROM events WHERE id = $1', [forged.id]);
    expect((await verify()).ok).toBe(true);

    const alarm = await rig.alarm(null, DAY);
    await rig.pool.query(`DELETE FROM audit_chain WHERE source = 'alarm' AND ref = $1`, [String(alarm)]);
    expect((await verify()).mismatch).toMatchObject({
      site: '_central',
      source: 'alarm',
      ref: String(alarm),
    });
    await rig.pool.query('DELETE FROM alarms WHERE id = $1', [alarm]);

    await writeAudit(rig.pool, { actor: ADMIN, action: 'test.action' });
    await rig.pool.query(`DELETE FROM audit_chain WHERE source = 'audit'`);
    expect((await verify()).mismatch).toMatchObject({ site: '_central', source: 'audit' });
  });

  describe('sources stored without a chain row before schema 37', () => {
    /** Migration 0037 as it runs at the upgrade, over what the database holds now. */
    const upgrade = async () => {
      await rig.pool.query(
        'DROP TABLE chain_unchained_at_upgrade; DROP FUNCTION identgate_unchained_list_digest()',
      );
      await rig.pool.query(
        readFileSync('src/dashboard/storage/migrations/0037_chain_unchained_at_upgrade.sql', 'utf8'),
      );
    };
    /**
     * `audit prune` as it was before schema 37: chain rows of signed days, whatever their sources,
     * and an entry without the bounds it pruned to.
     */
    const oldPrune = async (day: string) => {
      const { rowCount } = await rig.pool.query(
        `WITH signed AS (SELECT site, max(last_no) AS last_no FROM audit_checkpoints WHERE day < $1::date GROUP BY site)
         DELETE FROM audit_chain c USING signed k WHERE c.site = k.site AND c.no <= k.last_no`,
        [day],
      );
      await writeAudit(rig.pool, {
        actor: ADMIN,
        action: 'audit.chain.prune',
        details: { before: day, deleted: rowCount },
      });
    };
    afterEach(async () => {
      await rig.pool.query('TRUNCATE chain_unchained_at_upgrade');
    });

    it('are listed at the upgrade, recorded in a chained entry, and accepted', async () => {
      await writeAudit(rig.pool, { actor: ADMIN, action: 'test.action' });
      const event = await rig.event('berlin', 2 * DAY);
      await backdate('_central', 1, 2);
      await backdate('berlin', 1, 2);
      await checkpoint();
      await oldPrune(new Date().toISOString().slice(0, 10));
      expect((await verify()).mismatch?.problem).toMatch(/has no row in its chain/);

      await upgrade();
      const listed = await rig.pool.query(
        'SELECT source, ref FROM chain_unchained_at_upgrade ORDER BY source',
      );
      expect(listed.rows).toEqual([
        { source: 'audit', ref: expect.any(String) },
        { source: 'event', ref: event.id },
      ]);
      const recorded = await rig.pool.query(
        `SELECT actor, details FROM audit_log WHERE action = 'audit.chain.unchained-recorded'`,
      );
      expect(recorded.rows).toEqual([
        { actor: 'migration:0037', details: { rows: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
      ]);
      expect(await verify()).toMatchObject({ ok: true });
      // A source stored without its row after the upgrade is still found.
      await rig.pool.query('ALTER TABLE events DISABLE TRIGGER events_chain');
      try {
        await rig.event('berlin', DAY);
      } finally {
        await rig.pool.query('ALTER TABLE events ENABLE TRIGGER events_chain');
      }
      expect((await verify()).mismatch?.problem).toMatch(/has no row in its chain/);
    });

    it('is refused when it grew after the upgrade, or its record was doubled', async () => {
      await rig.event('berlin', 2 * DAY);
      await rig.pool.query('TRUNCATE audit_chain');
      await upgrade();
      expect((await verify()).ok).toBe(true);
      const forged = await rig.event('berlin', DAY);
      await rig.pool.query(
        `INSERT INTO chain_unchained_at_upgrade (source, ref, at) SELECT 'event', id::text, occurred_at FROM events WHERE id = $1`,
        [forged.id],
      );
      await rig.pool.query(`DELETE FROM audit_chain WHERE ref = $1`, [forged.id]);
      expect((await verify()).mismatch?.problem).toMatch(
        /is not the list its audit.chain.unchained-recorded entry recorded/,
      );
      await rig.pool.query(`DELETE FROM chain_unchained_at_upgrade WHERE ref = $1`, [forged.id]);
      await rig.pool.query(`DELETE FROM events WHERE id = $1`, [forged.id]);
      expect((await verify()).ok).toBe(true);
      await writeAudit(rig.pool, {
        actor: 'migration:0037',
        action: 'audit.chain.unchained-recorded',
        details: { rows: 1, sha256: 'x' },
      });
      expect((await verify()).mismatch?.problem).toMatch(
        /exactly one audit.chain.unchained-recorded entry; 2 found/,
      );
    });
  });

  it('verifies after retention deleted alarms never changed after they were raised', async () => {
    await rig.alarm('berlin', 400 * DAY);
    await rig.alarm(null, 400 * DAY);
    await rig.service.runNow({ dryRun: false });
    expect((await rig.pool.query('SELECT count(*)::int AS n FROM alarms')).rows[0]?.n).toBe(0);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('still verifies after the chain rows an erasure listed were pruned: the prune records the list it leaves', async () => {
    await rig.pool.query(`INSERT INTO people (id, display_name) VALUES ('p-ada', 'Ada')`);
    for (let i = 0; i < 2; i += 1) await rig.event('berlin', 2 * DAY, { person: 'p-ada' });
    await rig.event('berlin', DAY, { person: 'p-bob' });
    await rig.service.erasePerson('p-ada', {}, ADMIN);
    await backdate('berlin', 2, 1);
    await checkpoint();
    expect(await verify()).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', rows: 3, expired: 2 }] });
    const today = new Date().toISOString().slice(0, 10);
    expect(await cli('audit', 'prune', '--before', today)).toMatchObject({ code: 0 });
    expect(await rig.pool.query('SELECT * FROM erased_chain_rows')).toMatchObject({ rowCount: 0 });
    expect(await verify()).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', rows: 1 }] });
  });

  it('accepts workstation entries an erasure redacted, and no other changed staff action', async () => {
    await rig.pool.query(`INSERT INTO people (id, display_name) VALUES ('p-1', 'Ada')`);
    await writeAudit(rig.pool, {
      actor: 'workstation:ws-1',
      action: 'workstation.login',
      details: { user: 'p-1' },
    });
    await writeAudit(rig.pool, { actor: ADMIN, action: 'test.action', details: { n: 1 } });
    await rig.service.erasePerson('p-1', {}, ADMIN);
    const report = await verify();
    expect(report).toMatchObject({ ok: true, chains: [{ site: '_central', redacted: 1 }] });
    await rig.pool.query(`UPDATE audit_log SET details = '{"n":2}' WHERE action = 'test.action'`);
    expect((await verify()).mismatch).toMatchObject({
      site: '_central',
      source: 'audit',
      problem: expect.stringMatching(/was changed/),
    });
  });

  it("replaces the user in workstation entries past the presence retention, central's lock commands too, and still verifies", async () => {
    await rig.pool.query(
      `INSERT INTO rooms (site, id, name) VALUES ('berlin', 'r1', 'Room 1') ON CONFLICT DO NOTHING`,
    );
    await rig.pool.query(
      `INSERT INTO workstations (id, site, room, name) VALUES ('ws-9', 'berlin', 'r1', 'WS 9') ON CONFLICT DO NOTHING`,
    );
    await writeAudit(rig.pool, {
      actor: 'workstation:ws-9',
      action: 'workstation.login-allowed',
      details: { user: 'p-1' },
    });
    // Central sends the lock command when the user leaves: written by `system`, about the workstation.
    await writeAudit(rig.pool, {
      actor: 'system',
      action: 'workstation.lock-sent',
      target: 'workstation:ws-9',
      details: { user: 'p-1', reason: 'left', command: 'c-1' },
    });
    rig.service.register(new WorkstationAuditExpiry(rig.pool));
    const users = async () =>
      (
        await rig.pool.query<{ user: string }>(
          `SELECT details ->> 'user' AS user FROM audit_log WHERE starts_with(action, 'workstation.') ORDER BY id`,
        )
      ).rows.map((r) => r.user);
    // 59 days after the check: kept, and a dry run changes nothing either.
    rig.clock.advance(Date.now() - rig.clock.now() + 59 * DAY);
    await rig.service.runNow({ dryRun: false });
    expect(await users()).toEqual(['p-1', 'p-1']);
    rig.clock.advance(2 * DAY);
    const dry = await rig.service.runNow({ dryRun: true });
    expect(JSON.stringify(dry)).toContain('"presence"');
    expect(await users()).toEqual(['p-1', 'p-1']);
    // 61 days: the user is gone from the entry; the deletion log says how many, not whom.
    await rig.service.runNow({ dryRun: false });
    expect(await users()).toEqual(['expired', 'expired']);
    const logged = await rig.pool.query(
      `SELECT site, deleted::int AS count FROM deletion_log WHERE data_class = 'presence' AND NOT dry_run`,
    );
    expect(logged.rows).toEqual([{ site: 'berlin', count: 2 }]);
    const report = await verify();
    expect(report).toMatchObject({ ok: true });
    expect(report.chains.find((c) => c.site === '_central')?.redacted).toBe(2);
  });

  it('rejects a time that is not ISO 8601 with a usage error', async () => {
    const result = await cli('audit', 'verify', '--from', 'yesterday');
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('--from must be an ISO 8601 time');
  });
});
