import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AuditEntry, writeAudit } from '../../src/dashboard/audit/audit-log.js';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { ADMIN, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * An erasure's part in the audit log: staff actions keep what staff did, not whom it was about.
 * The entries are written with the shapes their routes use (audit-log-erasure-routes.test.ts
 * goes through the routes themselves).
 */
describe('erasing a person from the audit log', () => {
  let rig: RetentionRig;
  const ada = 'agent-ada';
  const bob = 'agent-bob';
  const badge = 'BADGE-ADA-1';
  const auditor = 'staff:test-auditor';

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

  const audit = (entry: AuditEntry) => writeAudit(rig.pool, entry);
  const idOf = async (action: string, target: string | null) =>
    (
      await rig.pool.query<{ id: string }>(
        'SELECT id FROM audit_log WHERE action = $1 AND target IS NOT DISTINCT FROM $2',
        [action, target],
      )
    ).rows[0]?.id;
  /** Entries whose whole row text names the id or the badge. */
  const naming = async (...needles: string[]) =>
    (
      await rig.pool.query<{ action: string }>(
        `SELECT l.action FROM audit_log l
          WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS n(needle) WHERE position(n.needle IN l::text) > 0)
          ORDER BY l.id`,
        [needles],
      )
    ).rows.map((r) => r.action);
  const verify = () => verifyChains(rig.pool, {});

  /** Every shape of entry that can name an agent, for Ada and one for Bob. */
  const writeEntries = async () => {
    await audit({ actor: ADMIN, action: 'person.created', target: `person:${ada}`, details: {} });
    await audit({ actor: ADMIN, action: 'person.badge-added', target: `person:${ada}`, details: { badge } });
    await audit({
      actor: ADMIN,
      action: 'person.badge-added',
      target: `person:${bob}`,
      details: { badge: 'B-BOB' },
    });
    await audit({
      actor: auditor,
      action: 'events.search',
      target: null,
      details: { person: ada, limit: 100 },
    });
    await audit({
      actor: auditor,
      action: 'audit.export',
      target: 'case-17',
      details: {
        query: { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z', person: ada },
        format: 'csv',
        rows: 2,
      },
    });
    await audit({
      actor: 'system',
      action: 'workstation.lock-sent',
      target: 'workstation:ws-1',
      details: { user: ada, reason: 'left the room', command: 'c-1' },
    });
  };

  it('leaves no entry naming the person or their badge, and the chain verifies', async () => {
    await writeEntries();
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report.auditEntries).toBe(5);
    expect(await naming(ada, badge)).toEqual([]);
    const rewritten = await rig.pool.query(
      `SELECT action, target, details FROM audit_log WHERE action <> 'person.erase' ORDER BY id`,
    );
    expect(rewritten.rows).toEqual([
      { action: 'person.created', target: 'person:erased', details: {} },
      { action: 'person.badge-added', target: 'person:erased', details: { badge: 'erased' } },
      { action: 'person.badge-added', target: `person:${bob}`, details: { badge: 'B-BOB' } },
      { action: 'events.search', target: null, details: { person: 'erased', limit: 100 } },
      expect.objectContaining({
        action: 'audit.export',
        details: expect.objectContaining({
          query: expect.objectContaining({ person: 'erased', from: '2026-03-01T00:00:00.000Z' }),
          rows: 2,
        }),
      }),
      expect.objectContaining({
        action: 'workstation.lock-sent',
        details: { user: 'erased', reason: 'left the room', command: 'c-1' },
      }),
    ]);
    expect(await verify()).toMatchObject({ ok: true, chains: [{ site: '_central', redacted: 5 }] });
  });

  it('rewrites the audit log under --keep-events too', async () => {
    await writeEntries();
    const report = await rig.service.erasePerson(ada, { keepEvents: true }, ADMIN);
    expect(report).toMatchObject({ keptEvents: true, auditEntries: 5 });
    expect(await naming(ada, badge)).toEqual([]);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('finds a later change to a rewritten entry', async () => {
    await writeEntries();
    await rig.service.erasePerson(ada, {}, ADMIN);
    const search = await idOf('events.search', null);
    await rig.pool.query(`UPDATE audit_log SET details = jsonb_set(details, '{limit}', '5') WHERE id = $1`, [
      search,
    ]);
    expect((await verify()).mismatch).toMatchObject({
      site: '_central',
      ref: search,
      problem: 'its audit row was changed (content digest differs)',
    });
  });

  it('finds "erased" written by hand into an entry the erasure did not rewrite', async () => {
    await writeEntries();
    await rig.service.erasePerson(ada, {}, ADMIN);
    const bobs = await idOf('person.badge-added', `person:${bob}`);
    await rig.pool.query(
      `UPDATE audit_log SET target = 'person:erased', details = '{"badge":"erased"}' WHERE id = $1`,
      [bobs],
    );
    expect((await verify()).mismatch).toMatchObject({ site: '_central', ref: bobs });
  });

  it('finds a workstation user replaced by "erased" by hand after an erasure', async () => {
    await rig.service.erasePerson(ada, {}, ADMIN);
    await audit({
      actor: 'workstation:ws-1',
      action: 'workstation.login-allowed',
      target: 'workstation:ws-1',
      details: { user: bob },
    });
    const login = await idOf('workstation.login-allowed', 'workstation:ws-1');
    await rig.pool.query(`UPDATE audit_log SET details = '{"user":"erased"}' WHERE id = $1`, [login]);
    expect((await verify()).mismatch).toMatchObject({ site: '_central', ref: login });
  });

  it('accepts workstation users an old erasure replaced unlisted, only in entries from before it', async () => {
    const old = {
      actor: 'workstation:ws-1',
      action: 'workstation.login-allowed',
      target: 'workstation:ws-1',
    };
    await audit({ ...old, details: { user: ada } });
    // As erasures did before they listed audit entries: the user replaced, a count-less log entry.
    await rig.pool.query(
      `UPDATE audit_log SET details = '{"user":"erased"}' WHERE action = 'workstation.login-allowed'`,
    );
    await audit({ actor: ADMIN, action: 'person.erase', target: null, details: { reference: null } });
    expect(await verify()).toMatchObject({ ok: true, chains: [{ site: '_central', redacted: 1 }] });

    await audit({ ...old, target: 'workstation:ws-2', details: { user: bob } });
    await rig.service.erasePerson(ada, {}, ADMIN);
    // An old-style entry logged now does not reach back either.
    await audit({ actor: ADMIN, action: 'person.erase', target: null, details: { reference: null } });
    const later = await idOf('workstation.login-allowed', 'workstation:ws-2');
    await rig.pool.query(`UPDATE audit_log SET details = '{"user":"erased"}' WHERE id = $1`, [later]);
    expect((await verify()).mismatch).toMatchObject({ site: '_central', ref: later });
  });

  it('can be repeated for a person erased before it reached the audit log', async () => {
    await writeEntries();
    // As erasures did before they reached the audit log: the person and their badges are gone.
    await rig.pool.query('DELETE FROM badges');
    await rig.pool.query('DELETE FROM people WHERE id = $1', [ada]);
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report).toMatchObject({ person: false, auditEntries: 5 });
    expect(await naming(ada, badge)).toEqual([]);
    expect(await verify()).toMatchObject({ ok: true });
  });
});
