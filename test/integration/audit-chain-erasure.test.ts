import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeAudit } from '../../src/dashboard/audit/audit-log.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { EventStore } from '../../src/dashboard/storage/event-store.js';
import { migrate, migrationsDir } from '../../src/dashboard/storage/migrator.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { createTestDatabase } from '../helpers/services.js';

/** `audit verify` after an erasure: exactly the rows it deleted or redacted, nothing else. */
describe('verifying the chains after an erasure', () => {
  let rig: RetentionRig;
  const ada = 'agent-ada';
  const bob = 'agent-bob';
  const badge = 'BADGE-ADA-1';

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    const people = new PeopleStore(rig.pool, randomBytes(32));
    for (const id of [ada, bob]) await people.upsertPerson({ id, displayName: `${id} name` });
    await people.addBadge(badge, ada);
  });
  const verify = () => verifyChains(rig.pool, {});

  it('accepts the rows the erasure deleted, and finds any other deleted event, at any site or time', async () => {
    await rig.event('berlin', 2 * DAY, { person: ada, badge });
    const before = await rig.event('berlin', 2 * DAY, { person: bob });
    await rig.service.erasePerson(ada, {}, ADMIN);
    const later = await rig.event('hamburg', DAY / 2, { person: bob });
    await rig.event('hamburg', DAY / 4, { person: bob });
    expect(await verify()).toMatchObject({
      ok: true,
      chains: [{ site: '_central' }, { site: 'berlin', rows: 2, expired: 1 }, { site: 'hamburg' }],
    });

    await rig.pool.query('DELETE FROM events WHERE id = $1', [later.id]);
    expect((await verify()).mismatch).toMatchObject({
      site: 'hamburg',
      ref: later.id,
      problem: 'its event row is missing and no deletion log entry covers it',
    });
    await rig.pool.query('DELETE FROM events WHERE id = $1', [before.id]);
    expect((await verify()).mismatch).toMatchObject({ site: 'berlin', ref: before.id });
  });

  it('finds a deletion hidden by listing its chain row as erased, however the list was changed', async () => {
    await rig.event('berlin', 2 * DAY, { person: ada, badge });
    const bobs = await rig.event('berlin', 2 * DAY, { person: bob });
    await rig.service.erasePerson(ada, {}, ADMIN);
    expect((await verify()).ok).toBe(true);
    // An insider deletes bob's event and lists its chain row as if an erasure had deleted it.
    await rig.pool.query('DELETE FROM events WHERE id = $1', [bobs.id]);
    await rig.pool.query(
      `INSERT INTO erased_chain_rows (site, no) SELECT site, no FROM audit_chain WHERE ref = $1`,
      [bobs.id],
    );
    expect((await verify()).mismatch).toMatchObject({
      site: '_central',
      no: null,
      problem: expect.stringMatching(
        /^the list of erased chain rows \(2 rows\) is not the one the last change of it recorded \(person\.erase/,
      ),
    });
  });

  it('finds a chain row listed as erased where no erasure ever ran', async () => {
    const bobs = await rig.event('berlin', 2 * DAY, { person: bob });
    await rig.pool.query('DELETE FROM events WHERE id = $1', [bobs.id]);
    await rig.pool.query(
      `INSERT INTO erased_chain_rows (site, no) SELECT site, no FROM audit_chain WHERE ref = $1`,
      [bobs.id],
    );
    expect((await verify()).mismatch).toMatchObject({
      site: '_central',
      problem:
        'the list of erased chain rows holds 1 rows, but no erasure recorded it: rows were added to it outside an erasure',
    });
  });

  it('still verifies once retention deleted an event whose companion an erasure redacted', async () => {
    await rig.event('berlin', 400 * DAY, { person: bob, data: { companion: ada } });
    await rig.event('berlin', 400 * DAY, { person: bob });
    await rig.event('berlin', DAY, { person: bob });
    await rig.service.erasePerson(ada, {}, ADMIN);
    expect((await verify()).ok).toBe(true);
    await rig.service.runNow({ dryRun: false });
    expect((await rig.pool.query('SELECT count(*)::int AS n FROM events')).rows[0]?.n).toBe(1);
    expect(await verify()).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', expired: 2 }] });
  });

  it('takes a redelivery whose companion the erasure or the ingest redacted for the event stored, and nothing else', async () => {
    const stored = await rig.event('berlin', DAY, { person: bob, data: { companion: 'erased' } });
    const row = (
      await rig.pool.query('SELECT occurred_at, data, signature FROM events WHERE id = $1', [stored.id])
    ).rows[0];
    const redelivery = (data: Record<string, unknown>) =>
      ({
        v: 1,
        id: stored.id,
        site: 'berlin',
        gateway: stored.gateway,
        seq: stored.seq,
        time: row.occurred_at.toISOString(),
        kind: 'access.granted',
        data,
        sig: row.signature,
      }) as unknown as Envelope;
    const events = new EventStore(rig.pool);
    // As the gateway signed it, before the erasure: the same event.
    expect(await events.differingFromStored([redelivery({ ...row.data, companion: ada })])).toEqual([]);
    const other = redelivery({ ...row.data, companion: ada, door: 'side' });
    expect(await events.differingFromStored([other])).toEqual([other]);
  });

  it('accepts the alarms and footage links the erasure deleted', async () => {
    const granted = await rig.event('berlin', DAY, { person: ada, badge });
    await rig.event('berlin', DAY, { kind: 'video.footage-linked', data: { event: granted.id } });
    await rig.pool.query(
      `INSERT INTO alarms (source, site, alarm, key, severity) VALUES ('gateway', 'berlin', 'badge-locked-out', $1, 'warning')`,
      [`badge-locked-out:${badge}`],
    );
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report).toMatchObject({ events: 1, footageLinks: 1, alarms: 1 });
    expect(await verify()).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', expired: 3 }] });
  });

  it('accepts the companion the erasure redacted, and no later change to that event', async () => {
    const bobs = await rig.event('berlin', DAY, { person: bob, data: { companion: ada } });
    await rig.service.erasePerson(ada, {}, ADMIN);
    expect(await verify()).toMatchObject({ ok: true, chains: [{}, { site: 'berlin', redacted: 1 }] });

    await rig.pool.query(`UPDATE events SET door = 'side' WHERE id = $1`, [bobs.id]);
    expect((await verify()).mismatch).toMatchObject({
      site: 'berlin',
      ref: bobs.id,
      problem: 'its event row was changed (content digest differs)',
    });
    // Listed as rewritten, not as deleted: deleting it is not covered.
    await rig.pool.query('DELETE FROM events WHERE id = $1', [bobs.id]);
    expect((await verify()).mismatch).toMatchObject({
      site: 'berlin',
      ref: bobs.id,
      problem: 'its event row is missing and no deletion log entry covers it',
    });
  });

  it('finds a companion replaced by "erased" where no erasure did it', async () => {
    const bobs = await rig.event('berlin', DAY, { person: bob, data: { companion: ada } });
    await rig.service.erasePerson(ada, { keepEvents: true }, ADMIN);
    await rig.pool.query(
      `UPDATE events SET data = jsonb_set(data, '{companion}', '"erased"') WHERE id = $1`,
      [bobs.id],
    );
    expect((await verify()).mismatch).toMatchObject({ site: 'berlin', ref: bobs.id });
  });
});

/** A database whose erasure was logged before schema 26, when erasures listed no chain rows. */
describe('verifying an erasure logged before its rows were listed', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
  });
  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  const insertEvent = async (site: string) => {
    const id = randomUUID();
    const at = new Date(Date.now() - DAY);
    await pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [
      at.toISOString().slice(0, 10),
    ]);
    await pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       VALUES ($1, $2, 1, $3, 'gw', (SELECT count(*) + 1 FROM events), 'access.granted', 'main', 'p-1', '{}', 'sig')`,
      [id, at, site],
    );
    return id;
  };

  it('accepts as many rows as it deleted that joined the chain before it, and no others', async () => {
    const upTo25 = mkdtempSync(join(tmpdir(), 'idg-migrations-'));
    for (const file of readdirSync(migrationsDir()).filter((f) => f < '0026')) {
      copyFileSync(join(migrationsDir(), file), join(upTo25, file));
    }
    await migrate(pool, silentLogger, upTo25);
    const erased = await insertEvent('berlin');
    const kept = await insertEvent('berlin');
    // As erasures did before: delete, then log without site or span.
    const runId = randomUUID();
    await pool.query('DELETE FROM events WHERE id = $1', [erased]);
    await pool.query(
      `INSERT INTO deletion_log (run_id, started_at, data_class, scope, site, span_from, span_to, deleted, method, duration_ms, dry_run)
       VALUES ($1, now(), 'access-events', 'erasure', NULL, NULL, NULL, 1, 'erase', 1, false)`,
      [runId],
    );
    await writeAudit(pool, { actor: ADMIN, action: 'person.erase', target: null, details: { runId } });
    const after = await insertEvent('hamburg');
    await migrate(pool, silentLogger);
    expect(await verifyChains(pool, {})).toMatchObject({
      ok: true,
      chains: [{}, { site: 'berlin', expired: 1 }, { site: 'hamburg' }],
    });

    await pool.query('DELETE FROM events WHERE id = $1', [after]);
    expect((await verifyChains(pool, {})).mismatch).toMatchObject({ site: 'hamburg', ref: after });
    await pool.query('DELETE FROM events WHERE id = $1', [kept]);
    expect((await verifyChains(pool, {})).mismatch).toMatchObject({ site: 'berlin', ref: kept });
  });
});
