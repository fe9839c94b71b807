import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeAudit } from '../../src/dashboard/audit/audit-log.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { WorkstationAuditExpiry } from '../../src/dashboard/presence/workstation-audit-expiry.js';
import { PersonErasure } from '../../src/dashboard/retention/person-erasure.js';
import { migrate, migrationsDir } from '../../src/dashboard/storage/migrator.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * What the audit chain's digests give away of an erased or expired person to whoever holds the
 * database alone (a dump, a backup): nothing. The chain keeps the digest of each row as first
 * written; every digested row carries something unguessable (an alarm's or audit entry's salt,
 * an event's gateway signature) that the erasure, the presence retention or the deletion
 * destroys. Each test plays the attacker with the project's own digest functions and a list of
 * guessed ids, and checks first that the same guess would have matched had the secret stayed.
 */
describe('the audit chain keeps nothing to test a guessed id against', () => {
  let rig: RetentionRig;
  let people: PeopleStore;
  const ada = 'agent-ada-salt';
  const badge = 'BADGE-ADA-SALT';
  /** What an attacker would try: e.g. the staff list, or agent-0000 … agent-9999. */
  const guesses = ['agent-zoe', 'agent-bob', ada, 'agent-max'];
  const badgeGuesses = ['BADGE-BOB-0001', badge, 'BADGE-0000'];

  beforeAll(async () => {
    rig = await startRetentionRig();
    people = new PeopleStore(rig.pool, randomBytes(32));
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE audit_chain, audit_checkpoints');
    for (const id of [ada, 'agent-bob']) {
      await people.upsertPerson({ id, displayName: `${id} name` });
      await people.grantSite(id, 'berlin');
    }
    await people.addBadge(badge, ada);
    await people.addBadge('BADGE-BOB-0001', 'agent-bob');
  });

  /** The guesses whose digest, with `secret` put back as the row's signature, is the chain's. */
  const companionGuesses = async (eventId: string, signature: string | null) =>
    (
      await rig.pool.query<{ guess: string }>(
        `SELECT g.guess FROM events e
           JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text
           CROSS JOIN unnest($2::text[]) AS g(guess)
          WHERE e.id = $1
            AND c.digest = identgate_event_digest(jsonb_populate_record(e, jsonb_build_object(
                  'data', jsonb_set(e.data, '{companion}', to_jsonb(g.guess)),
                  'signature', coalesce($3, e.signature))))`,
        [eventId, guesses, signature],
      )
    ).rows.map((r) => r.guess);

  it('leaves no way to tell that the erased person was the companion in another’s event', async () => {
    const signature = randomBytes(64).toString('base64url');
    const bobs = await rig.event('berlin', DAY, {
      person: 'agent-bob',
      badge: 'BADGE-BOB-0001',
      data: { companion: ada },
      signature,
    });
    await rig.service.erasePerson(ada, { reference: 'DSR-SALT-1' }, ADMIN);
    const row = await rig.pool.query('SELECT data, signature, chain_digest FROM events WHERE id = $1', [
      bobs.id,
    ]);
    expect(row.rows).toEqual([
      { data: expect.objectContaining({ companion: 'erased' }), signature: '', chain_digest: null },
    ]);
    // The gateway's signature was the secret: with it, the guess would be found.
    expect(await companionGuesses(bobs.id, signature)).toEqual([ada]);
    expect(await companionGuesses(bobs.id, null)).toEqual([]);
    expect(await rig.pool.query('SELECT 1 FROM events WHERE signature = $1', [signature])).toMatchObject({
      rowCount: 0,
    });
    expect(await verifyChains(rig.pool, {})).toMatchObject({
      ok: true,
      chains: [{}, { site: 'berlin', redacted: 1 }],
    });
  });

  /** The guesses whose digest, with `salt` put back, is the chain's, for each audit entry `where` finds. */
  const auditGuesses = async (where: string, field: 'target' | 'user', salt: string | null) =>
    (
      await rig.pool.query<{ guess: string }>(
        `SELECT g.guess FROM audit_log l
           JOIN audit_chain c ON c.source = 'audit' AND c.ref = l.id::text
           CROSS JOIN unnest($1::text[]) AS g(guess)
          WHERE ${where}
            AND c.digest = identgate_audit_digest(jsonb_populate_record(l, jsonb_build_object(
                  'salt', coalesce($3::uuid, l.salt),
                  $2::text, CASE $2::text WHEN 'target' THEN to_jsonb('person:' || g.guess)
                                          ELSE jsonb_set(l.details, '{user}', to_jsonb(g.guess)) END)))`,
        [guesses, field === 'target' ? 'target' : 'details', salt],
      )
    ).rows.map((r) => r.guess);

  it('leaves no way to tell whom an audit entry rewritten by the erasure was about', async () => {
    await writeAudit(rig.pool, {
      actor: 'staff:admin-1',
      action: 'person.updated',
      target: `person:${ada}`,
      details: { fields: ['displayName'] },
    });
    const salt = (
      await rig.pool.query<{ salt: string }>(`SELECT salt FROM audit_log WHERE target = $1`, [
        `person:${ada}`,
      ])
    ).rows[0]?.salt;
    expect(salt).toMatch(/^[0-9a-f-]{36}$/);
    await rig.service.erasePerson(ada, { reference: 'DSR-SALT-2' }, ADMIN);
    const where = `l.target = 'person:erased'`;
    expect(await auditGuesses(where, 'target', salt ?? null)).toEqual([ada]);
    expect(await auditGuesses(where, 'target', null)).toEqual([]);
    expect((await rig.pool.query(`SELECT salt FROM audit_log WHERE target = 'person:erased'`)).rows).toEqual([
      { salt: null },
    ]);
    expect(await verifyChains(rig.pool, {})).toMatchObject({ ok: true, chains: [{ site: '_central' }] });
  });

  it('leaves no way to tell who a workstation entry named once presence retention expired it', async () => {
    await rig.pool.query(
      `INSERT INTO rooms (site, id, name) VALUES ('berlin', 'r1', 'Room 1') ON CONFLICT DO NOTHING`,
    );
    await rig.pool.query(
      `INSERT INTO workstations (id, site, room, name) VALUES ('ws-9', 'berlin', 'r1', 'WS 9') ON CONFLICT DO NOTHING`,
    );
    await writeAudit(rig.pool, {
      actor: 'workstation:ws-9',
      action: 'workstation.login-allowed',
      details: { user: 'agent-bob' },
    });
    const salt = (
      await rig.pool.query<{ salt: string }>(
        `SELECT salt FROM audit_log WHERE action = 'workstation.login-allowed'`,
      )
    ).rows[0]?.salt;
    rig.service.register(new WorkstationAuditExpiry(rig.pool));
    rig.clock.advance(Date.now() - rig.clock.now() + 61 * DAY);
    await rig.service.runNow({ dryRun: false });
    const where = `l.details ->> 'user' = 'expired'`;
    // Precondition: the entry was expired at all.
    expect((await rig.pool.query(`SELECT salt FROM audit_log l WHERE ${where}`)).rows).toEqual([
      { salt: null },
    ]);
    expect(await auditGuesses(where, 'user', salt ?? null)).toEqual(['agent-bob']);
    expect(await auditGuesses(where, 'user', null)).toEqual([]);
    expect(await verifyChains(rig.pool, {})).toMatchObject({
      ok: true,
      chains: [{ site: '_central', redacted: 1 }],
    });
  });

  it('leaves no way to test a deleted lock-out alarm against a guessed badge', async () => {
    const { rows } = await rig.pool.query<{ id: string; salt: string }>(
      `INSERT INTO alarms (source, site, gateway, alarm, key, severity, door)
       VALUES ('gateway', 'berlin', 'gw-berlin', 'badge-locked-out', $1, 'warning', 'main') RETURNING id, salt`,
      [`badge-locked-out:${badge}`],
    );
    const alarm = rows[0] as { id: string; salt: string };
    expect(alarm.salt).toMatch(/^[0-9a-f-]{36}$/);
    const report = await rig.service.erasePerson(ada, { reference: 'DSR-SALT-3' }, ADMIN);
    expect(report.alarms).toBe(1);
    // All the attacker has: the chain row (site, id, time, digest) and the directory.
    const tried = (salt: string | null) =>
      rig.pool.query<{ guess: string }>(
        `SELECT g.guess FROM audit_chain c
           CROSS JOIN unnest($2::text[]) AS g(guess)
           CROSS JOIN unnest(ARRAY['info', 'warning', 'critical']) AS s(severity)
          WHERE c.source = 'alarm' AND c.ref = $1
            AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.id = c.ref::bigint)
            AND c.digest = identgate_alarm_digest(jsonb_populate_record(NULL::alarms, jsonb_build_object(
                  'id', c.ref::bigint, 'source', 'gateway', 'site', c.site, 'gateway', 'gw-' || c.site,
                  'alarm', 'badge-locked-out', 'key', 'badge-locked-out:' || g.guess,
                  'severity', s.severity, 'door', 'main', 'raised_at', c.at, 'salt', $3::uuid)))`,
        [alarm.id, badgeGuesses, salt],
      );
    expect((await tried(alarm.salt)).rows.map((r) => r.guess)).toEqual([badge]);
    expect((await tried(null)).rows).toEqual([]);
    expect(await verifyChains(rig.pool, {})).toMatchObject({
      ok: true,
      chains: [{}, { site: 'berlin', expired: 1 }],
    });
  });

  it('verifies salted alarms and audit entries, and finds a salt changed or removed', async () => {
    const alarm = await rig.alarm('berlin', DAY);
    await writeAudit(rig.pool, { actor: ADMIN, action: 'test.action', details: { n: 1 } });
    const salted = await rig.pool.query(
      `SELECT (SELECT count(*)::int FROM alarms WHERE salt IS NOT NULL) AS alarms,
              (SELECT count(*)::int FROM audit_log WHERE salt IS NOT NULL) AS audit`,
    );
    expect(salted.rows).toEqual([{ alarms: 1, audit: 1 }]);
    // The salt is in the digest: the chain does not hold the unsalted one.
    const unsalted = await rig.pool.query(
      `SELECT 1 FROM audit_log l JOIN audit_chain c ON c.source = 'audit' AND c.ref = l.id::text
        WHERE c.digest = identgate_audit_digest(jsonb_populate_record(l, '{"salt": null}'))`,
    );
    expect(unsalted.rowCount).toBe(0);
    expect(await verifyChains(rig.pool, {})).toMatchObject({ ok: true });

    await rig.pool.query('UPDATE alarms SET salt = gen_random_uuid() WHERE id = $1', [alarm]);
    expect((await verifyChains(rig.pool, {})).mismatch).toMatchObject({
      site: 'berlin',
      ref: String(alarm),
      problem: 'its alarm row was changed (content digest differs)',
    });
    // The central chain is walked first.
    await rig.pool.query(`UPDATE audit_log SET salt = NULL WHERE action = 'test.action'`);
    expect((await verifyChains(rig.pool, {})).mismatch).toMatchObject({
      site: '_central',
      problem: 'its audit row was changed (content digest differs)',
    });
  });
});

/** A database with chain rows from before schema 34, when alarms and audit entries had no salt. */
describe('verifying a chain begun before alarms and audit entries were salted', () => {
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

  const alarm = async (key: string) =>
    Number(
      (
        await pool.query<{ id: string }>(
          `INSERT INTO alarms (source, site, alarm, key, severity) VALUES ('gateway', 'berlin', 'badge-locked-out', $1, 'warning')
           RETURNING id`,
          [key],
        )
      ).rows[0]?.id,
    );

  it('keeps the old rows unsalted and verifying, salts the new ones, and verifies erasures of both', async () => {
    const upTo33 = mkdtempSync(join(tmpdir(), 'idg-migrations-'));
    try {
      for (const file of readdirSync(migrationsDir()).filter((f) => f < '0034'))
        copyFileSync(join(migrationsDir(), file), join(upTo33, file));
      await migrate(pool, silentLogger, upTo33);
    } finally {
      rmSync(upTo33, { recursive: true, force: true });
    }
    await pool.query(`INSERT INTO customers (id, name) VALUES ('acme', 'Acme')`);
    await pool.query(`INSERT INTO sites (id, customer_id, name) VALUES ('berlin', 'acme', 'Berlin')`);
    const people = new PeopleStore(pool, randomBytes(32));
    for (const id of ['agent-old', 'agent-new']) await people.upsertPerson({ id, displayName: id });
    await people.addBadge('BADGE-OLD', 'agent-old');
    await people.addBadge('BADGE-NEW', 'agent-new');
    await people.addBadge('BADGE-NEW-2', 'agent-new');
    const audit = (person: string) =>
      writeAudit(pool, { actor: ADMIN, action: 'person.updated', target: `person:${person}`, details: {} });
    await audit('agent-old');
    await audit('agent-new');
    await alarm('badge-locked-out:BADGE-OLD');
    await alarm('badge-locked-out:BADGE-NEW');
    await alarm('door-forced:main');

    // 34 (the salt) and 35 first, then whatever later versions exist.
    expect((await migrate(pool, silentLogger)).applied.slice(0, 2)).toEqual([34, 35]);
    const unsalted = await pool.query(
      `SELECT (SELECT count(*)::int FROM alarms WHERE salt IS NULL) AS alarms,
              (SELECT count(*)::int FROM audit_log WHERE salt IS NULL) AS audit`,
    );
    expect(unsalted.rows).toEqual([{ alarms: 3, audit: 2 }]);
    expect(await verifyChains(pool, {})).toMatchObject({ ok: true });

    await audit('agent-new');
    await alarm('badge-locked-out:BADGE-NEW-2');
    await alarm('door-forced:side');
    const salted = await pool.query(
      `SELECT (SELECT count(*)::int FROM alarms WHERE salt IS NOT NULL) AS alarms,
              (SELECT count(*)::int FROM audit_log WHERE salt IS NOT NULL) AS audit`,
    );
    expect(salted.rows).toEqual([{ alarms: 2, audit: 1 }]);
    expect(await verifyChains(pool, {})).toMatchObject({ ok: true });

    // Erasures rewrite old and new entries and delete old and new alarms: all still verifies.
    const erasure = new PersonErasure(pool, systemClock);
    expect(await erasure.erase('agent-old', {}, ADMIN)).toMatchObject({ auditEntries: 1, alarms: 1 });
    expect(await erasure.erase('agent-new', {}, ADMIN)).toMatchObject({ auditEntries: 2, alarms: 2 });
    expect(await verifyChains(pool, {})).toMatchObject({
      ok: true,
      chains: [
        { site: '_central', redacted: 3 },
        { site: 'berlin', expired: 3 },
      ],
    });
    expect(
      (
        await pool.query(
          `SELECT count(*)::int AS n FROM audit_log WHERE target = 'person:erased' AND salt IS NOT NULL`,
        )
      ).rows,
    ).toEqual([{ n: 0 }]);
  });
});
