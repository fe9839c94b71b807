import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChains } from '../../src/dashboard/audit/chain-verifier.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * Through the dashboard's own routes: an administrator's changes to a person and an auditor's
 * search and export naming them are audited; once the person is erased, no audit entry names
 * them or their badges, and the chain still verifies.
 */
describe('erasing a person the audit log names through the dashboard', () => {
  let system: TestSystem;
  const spare = 'B-SPARE-90210';

  beforeAll(async () => {
    system = await startTestSystem();
  }, 120_000);
  afterAll(async () => {
    await system?.stop();
  });

  it('rewrites every entry that named the person or a badge, and verify accepts exactly that', async () => {
    const { person, badge } = system.agent;
    const admin = await system.staff('admin');
    const auditor = await system.staff('auditor');
    expect(
      (await admin.request('POST', `/api/v1/people/${person}/badges`, { badge: spare })).statusCode,
    ).toBe(200);
    expect((await admin.request('POST', `/api/v1/people/${person}/badges/${spare}/revoke`)).statusCode).toBe(
      200,
    );
    expect((await auditor.request('GET', `/api/v1/events?person=${person}&limit=10`)).statusCode).toBe(200);
    await auditor.reauth();
    const exported = await auditor.request('POST', '/api/v1/exports', {
      from: '2026-02-01T00:00:00.000Z',
      to: '2026-02-02T00:00:00.000Z',
      person,
      format: 'csv',
    });
    expect(exported.statusCode).toBe(200);
    const pool = system.dashboard.pool;
    const naming = async () =>
      (
        await pool.query<{ action: string }>(
          `SELECT l.action FROM audit_log l
            WHERE position($1 IN l::text) > 0 OR position($2 IN l::text) > 0 OR position($3 IN l::text) > 0
            ORDER BY l.id`,
          [person, badge, spare],
        )
      ).rows.map((r) => r.action);
    expect(await naming()).toEqual(
      expect.arrayContaining(['person.badge-added', 'person.badge-revoked', 'events.search', 'audit.export']),
    );

    const report = await system.dashboard.retention.erasePerson(person, {}, 'cli:test');
    expect(report.auditEntries).toBeGreaterThanOrEqual(4);
    expect(await naming()).toEqual([]);
    expect(await verifyChains(pool, {})).toMatchObject({ ok: true });

    const search = await pool.query<{ id: string }>(
      `SELECT id FROM audit_log WHERE action = 'events.search'`,
    );
    const id = search.rows[0]?.id;
    await pool.query(`UPDATE audit_log SET details = jsonb_set(details, '{limit}', '500') WHERE id = $1`, [
      id,
    ]);
    expect((await verifyChains(pool, {})).mismatch).toMatchObject({ site: '_central', ref: id });
  }, 60_000);
});
