import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ExpiryRequest, ExportStore } from '../../src/dashboard/retention/expiring-store.js';
import { ADMIN, DAY, HOUR, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** Legal holds, alarms, quarantine, registered stores, the deletion log and policy changes. */
describe('retention: holds, row classes, log and policies', () => {
  let rig: RetentionRig;

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => rig.close());
  beforeEach(async () => rig.reset());

  const run = () => rig.service.runNow({ dryRun: false });
  const iso = (age: number) => new Date(rig.clock.now() - age).toISOString();

  it('keeps held events until the hold is released, then deletes them at the next run', async () => {
    const held = await rig.event('berlin', 61 * DAY);
    const unheld = await rig.event('berlin', 61 * DAY - 3 * HOUR);
    const otherSite = await rig.event('hamburg', 61 * DAY);
    const hold = await rig.service.addHold(
      { site: 'berlin', from: iso(61 * DAY + HOUR), to: iso(61 * DAY - HOUR), reason: 'case 2026-17' },
      ADMIN,
    );
    const first = await run();
    expect(await rig.eventIds()).toEqual([held.id]);
    expect(await rig.eventIds()).not.toContain(unheld.id);
    expect(await rig.eventIds()).not.toContain(otherSite.id);
    expect(await rig.partitionNames()).toContain(rig.partitionOf(61 * DAY));
    expect(first.held).toEqual([{ dataClass: 'access-events', site: 'berlin', holds: [hold.id], count: 1 }]);

    await rig.service.releaseHold(hold.id, ADMIN);
    await run();
    expect(await rig.eventIds()).toEqual([]);
  });

  it('audits placing and releasing a hold, naming the actor', async () => {
    const hold = await rig.service.addHold(
      { from: iso(10 * DAY), to: iso(5 * DAY), reason: 'case 9' },
      ADMIN,
    );
    await rig.service.releaseHold(hold.id, 'staff:other-admin');
    const audit = await rig.pool.query('SELECT actor, action, target FROM audit_log ORDER BY id');
    expect(audit.rows).toEqual([
      { actor: ADMIN, action: 'retention.hold.add', target: `hold:${hold.id}` },
      { actor: 'staff:other-admin', action: 'retention.hold.release', target: `hold:${hold.id}` },
    ]);
    await expect(rig.service.releaseHold(hold.id, ADMIN)).rejects.toMatchObject({
      code: 'IDG_RETENTION_HOLD_UNKNOWN',
    });
  });

  it('deletes alarms whose last activity is past retention, in any state, and keeps held and recent ones', async () => {
    const stale = await rig.alarm('berlin', 70 * DAY, { state: 'active' });
    const resolved = await rig.alarm('hamburg', 65 * DAY, { state: 'resolved' });
    const stillSeen = await rig.alarm('berlin', 70 * DAY, { lastSeenAge: 2 * DAY });
    const held = await rig.alarm('hamburg', 80 * DAY);
    const central = await rig.alarm(null, 90 * DAY);
    await rig.service.addHold(
      { site: 'hamburg', from: iso(81 * DAY), to: iso(79 * DAY), reason: 'case 3' },
      ADMIN,
    );
    await run();
    const left = (await rig.pool.query<{ id: string }>('SELECT id FROM alarms ORDER BY id')).rows.map((r) =>
      Number(r.id),
    );
    expect(left).toEqual([stillSeen, held]);
    expect(left).not.toContain(stale);
    expect(left).not.toContain(resolved);
    expect(left).not.toContain(central);
  });

  it('keeps an alarm resolved within retention, however long before it was raised, cleared and acknowledged', async () => {
    const at = (age: number) => new Date(rig.clock.now() - age);
    await rig.pool.query(
      `INSERT INTO alarms (source, site, alarm, key, severity, state, raised_at, last_seen_at, cleared_at,
                           acknowledged_at, acknowledged_by, resolved_at, resolved_by, resolve_comment)
       VALUES ('gateway', 'berlin', 'door-forced', 'door-forced:main', 'critical', 'resolved', $1, $1, $2,
               $3, 'staff:x', $4, 'staff:y', 'investigated, see case 12')`,
      [at(70 * DAY), at(65 * DAY), at(64 * DAY), at(DAY)],
    );
    await run();
    const left = await rig.pool.query(`SELECT resolve_comment FROM alarms`);
    expect(left.rows).toEqual([{ resolve_comment: 'investigated, see case 12' }]);
  });

  it('deletes quarantined payloads past the global retention; any hold keeps them', async () => {
    await rig.service.setPolicy({ dataClass: 'quarantine', scope: 'global', days: 14 }, ADMIN);
    await rig.quarantined(15 * DAY, 'expired');
    await rig.quarantined(20 * DAY, 'held');
    await rig.quarantined(13 * DAY, 'recent');
    await rig.service.addHold(
      { site: 'hamburg', from: iso(21 * DAY), to: iso(19 * DAY), reason: 'case 4' },
      ADMIN,
    );
    await run();
    const left = await rig.pool.query<{ payload: Buffer }>(
      'SELECT payload FROM quarantine ORDER BY received_at',
    );
    expect(left.rows.map((r) => r.payload.toString())).toEqual(['held', 'recent']);
  });

  it('asks a registered export store to delete what is past its retention and logs what it reports', async () => {
    await rig.service.setPolicy(
      { dataClass: 'audit-exports', scope: 'site', scopeId: 'berlin', days: 90 },
      ADMIN,
    );
    const requests: ExpiryRequest[] = [];
    const exports: ExportStore = {
      dataClass: 'audit-exports',
      async deleteOlderThan(request) {
        requests.push(request);
        const { cutoff, source } = request.cutoffFor('berlin');
        return [
          {
            dataClass: 'audit-exports',
            scope: source,
            site: 'berlin',
            from: null,
            to: cutoff.toISOString(),
            count: 2,
            method: 'delete',
            durationMs: 1,
          },
        ];
      },
    };
    rig.service.register(exports);
    const report = await run();
    expect(requests[0]?.cutoffFor('berlin')).toEqual({
      cutoff: new Date(rig.clock.now() - 90 * DAY),
      source: 'site:berlin',
    });
    expect(requests[0]?.cutoffFor('hamburg').source).toBe('default');
    expect(report.entries).toContainEqual(expect.objectContaining({ dataClass: 'audit-exports', count: 2 }));
    expect((await rig.service.policies()).classes.find((c) => c.dataClass === 'audit-exports')?.active).toBe(
      true,
    );
  });

  it('keeps person and badge ids and names out of the deletion log', async () => {
    await rig.pool.query(
      `INSERT INTO people (id, display_name) VALUES ('agent-zz-9-plural-z-alpha', 'Zaphod Beeblebrox')`,
    );
    await rig.event('berlin', 61 * DAY, { person: 'agent-zz-9-plural-z-alpha', badge: 'BADGE-4242-XYZ' });
    await rig.event('berlin', 60 * DAY + HOUR, {
      person: 'agent-zz-9-plural-z-alpha',
      badge: 'BADGE-4242-XYZ',
    });
    await rig.event('hamburg', 61 * DAY, { badge: 'BADGE-4242-XYZ', kind: 'access.denied' });
    await rig.service.runNow({ dryRun: true });
    await run();
    const log = await rig.pool.query<{ text: string }>(
      "SELECT string_agg(d::text, E'\\n') AS text FROM deletion_log d",
    );
    expect(log.rows[0]?.text).toContain('access-events');
    for (const secret of ['agent-zz-9', 'BADGE-4242', 'Zaphod', 'Beeblebrox'])
      expect(log.rows[0]?.text).not.toContain(secret);
  });

  it('lets one instance run at a time', async () => {
    const other = new pg.Client({
      connectionString: (rig.pool as unknown as { options: { connectionString: string } }).options
        .connectionString,
    });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(7220431003)');
      await expect(run()).rejects.toMatchObject({ code: 'IDG_RETENTION_BUSY' });
    } finally {
      await other.end();
    }
    await expect(run()).resolves.toMatchObject({ failures: [] });
  });

  it('audits a policy change with the days it replaced', async () => {
    await rig.service.setPolicy({ dataClass: 'video', scope: 'customer', scopeId: 'acme', days: 30 }, ADMIN);
    await rig.service.setPolicy({ dataClass: 'video', scope: 'customer', scopeId: 'acme', days: 20 }, ADMIN);
    const audit = await rig.pool.query(
      'SELECT actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT 1',
    );
    expect(audit.rows[0]).toEqual({
      actor: ADMIN,
      action: 'retention.policy.set',
      target: 'retention:video/customer:acme',
      details: { days: 20, previousDays: 30 },
    });
    expect((await rig.service.policies()).policies).toEqual([
      expect.objectContaining({
        dataClass: 'video',
        scope: 'customer',
        scopeId: 'acme',
        days: 20,
        updatedBy: ADMIN,
      }),
    ]);
  });

  it('refuses policies of a scope the class cannot have, for unknown customers and out of range', async () => {
    await expect(
      rig.service.setPolicy({ dataClass: 'quarantine', scope: 'site', scopeId: 'berlin', days: 5 }, ADMIN),
    ).rejects.toMatchObject({ code: 'IDG_RETENTION_SCOPE' });
    await expect(
      rig.service.setPolicy({ dataClass: 'alarms', scope: 'customer', scopeId: 'nobody', days: 5 }, ADMIN),
    ).rejects.toMatchObject({ code: 'IDG_RETENTION_UNKNOWN_SCOPE' });
    await expect(
      rig.service.setPolicy({ dataClass: 'alarms', scope: 'global', days: 0 }, ADMIN),
    ).rejects.toMatchObject({
      code: 'IDG_RETENTION_INVALID',
      message: expect.stringContaining('days'),
    });
  });
});
