import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** Erasure of a person on request: master data always, records unless kept, holds respected. */
describe('erasure of a person', () => {
  let rig: RetentionRig;
  let people: PeopleStore;
  const ada = 'agent-ada-erasable';
  const badge = 'BADGE-ADA-0471';

  beforeAll(async () => {
    rig = await startRetentionRig();
    people = new PeopleStore(rig.pool, randomBytes(32));
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    for (const id of [ada, 'agent-bob']) {
      await people.upsertPerson({ id, displayName: `${id} name` });
      await people.setTotpSecret(id, 'JBSWY3DPEHPK3PXP');
      await people.grantSite(id, 'berlin');
    }
    await people.addBadge(badge, ada);
    await people.addBadge('BADGE-BOB-0001', 'agent-bob');
  });

  const count = async (sql: string, params: unknown[] = []) =>
    (await rig.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]?.n;

  it('removes the person, badges, grants and sealed secret, and their events, links, alarms and payloads', async () => {
    const granted = await rig.event('berlin', 3 * DAY, { person: ada, badge });
    await rig.event('berlin', 2 * DAY, { kind: 'access.denied', badge });
    await rig.event('berlin', 3 * DAY, {
      kind: 'video.footage-linked',
      data: { event: granted.id, camera: 'cam-1' },
    });
    const bob = await rig.event('berlin', 3 * DAY, { person: 'agent-bob', badge: 'BADGE-BOB-0001' });
    await rig.pool.query(
      `INSERT INTO alarms (source, site, alarm, key, severity, event_id) VALUES
         ('gateway', 'berlin', 'duress', 'duress:main:1', 'critical', $1),
         ('gateway', 'berlin', 'badge-locked-out', $2, 'warning', NULL),
         ('gateway', 'berlin', 'door-forced', 'door-forced:main', 'critical', NULL)`,
      [granted.id, `badge-locked-out:${badge}`],
    );
    await rig.quarantined(DAY, JSON.stringify({ data: { person: ada } }));

    const report = await rig.service.erasePerson(ada, { reference: 'DSR-2026-0042' }, ADMIN);

    expect(report).toMatchObject({
      person: true,
      badges: 1,
      grants: 1,
      events: 2,
      footageLinks: 1,
      alarms: 2,
      quarantine: 1,
    });
    expect(await count('people WHERE id = $1', [ada])).toBe(0);
    expect(await count('badges WHERE person_id = $1', [ada])).toBe(0);
    expect(await count('access_grants WHERE person_id = $1', [ada])).toBe(0);
    expect(await rig.eventIds()).toEqual([bob.id]);
    expect(await count('alarms')).toBe(1);
    expect(await count('people')).toBe(1);
  });

  it('keeps the sequence numbers of erased events claimed, so a resend cannot bring them back', async () => {
    const granted = await rig.event('berlin', DAY, { person: ada, badge });
    await rig.service.erasePerson(ada, {}, ADMIN);
    expect(await count('event_sequences WHERE event_id = $1', [granted.id])).toBe(1);
  });

  it('keeps events under a legal hold and says how many', async () => {
    const held = await rig.event('berlin', 10 * DAY, { person: ada, badge });
    await rig.event('berlin', DAY, { person: ada, badge });
    const at = (age: number) => new Date(rig.clock.now() - age).toISOString();
    await rig.service.addHold(
      { site: 'berlin', from: at(11 * DAY), to: at(9 * DAY), reason: 'case 77' },
      ADMIN,
    );
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report).toMatchObject({ events: 1, heldEvents: 1 });
    expect(await rig.eventIds()).toEqual([held.id]);
  });

  it('keeps events and alarms when asked to, removing only the master data', async () => {
    await rig.event('berlin', DAY, { person: ada, badge });
    const report = await rig.service.erasePerson(ada, { keepEvents: true }, ADMIN);
    expect(report).toMatchObject({ person: true, keptEvents: true, events: 0 });
    expect(await count('events')).toBe(1);
    expect(await count('people WHERE id = $1', [ada])).toBe(0);
  });

  it('records the erasure in the audit and deletion logs without the person or badge id', async () => {
    await rig.event('berlin', DAY, { person: ada, badge });
    await rig.service.erasePerson(ada, { reference: 'DSR-2026-0042' }, ADMIN);
    const audit = await rig.pool.query('SELECT actor, action, target, details FROM audit_log');
    expect(audit.rows).toEqual([
      {
        actor: ADMIN,
        action: 'person.erase',
        target: null,
        details: expect.objectContaining({ reference: 'DSR-2026-0042', events: 1, badges: 1 }),
      },
    ]);
    const text = await rig.pool.query<{ t: string }>(
      `SELECT (SELECT string_agg(a::text, ' ') FROM audit_log a) || (SELECT string_agg(d::text, ' ') FROM deletion_log d) AS t`,
    );
    expect(text.rows[0]?.t).toContain('erasure');
    expect(text.rows[0]?.t).not.toContain(ada);
    expect(text.rows[0]?.t).not.toContain(badge);
  });

  it("leaves a reissued badge's records of its earlier holder, events and lock-out alarms alike", async () => {
    const kept = await rig.event('berlin', 5 * DAY, { person: ada, badge });
    const lockOut = await rig.event('berlin', 5 * DAY, {
      kind: 'alarm.raised',
      person: ada,
      badge,
      data: { alarm: 'badge-locked-out', key: `badge-locked-out:${badge}`, severity: 'warning' },
    });
    await rig.pool.query(
      `INSERT INTO alarms (source, site, alarm, key, severity, event_id, cleared_at)
       VALUES ('gateway', 'berlin', 'badge-locked-out', $1, 'warning', $2, now())`,
      [`badge-locked-out:${badge}`, lockOut.id],
    );
    await rig.service.erasePerson(ada, { keepEvents: true, reference: 'DSR-keep' }, ADMIN);
    // The card goes to a new agent, who is erased in turn.
    await people.upsertPerson({ id: 'agent-cem', displayName: 'Cem' });
    await people.addBadge(badge, 'agent-cem');
    const own = await rig.event('berlin', DAY, { person: 'agent-cem', badge });
    const report = await rig.service.erasePerson('agent-cem', { reference: 'DSR-2' }, ADMIN);
    expect(report).toMatchObject({ events: 1, alarms: 0 });
    expect((await rig.eventIds()).sort()).toEqual([kept.id, lockOut.id].sort());
    expect(await count('alarms')).toBe(1);
    expect(own.id).not.toBe(kept.id);
  });

  it("removes the lock-out's alarm.cleared event, which names the badge only in its key", async () => {
    const key = `badge-locked-out:${badge}`;
    await rig.event('berlin', DAY, {
      kind: 'alarm.raised',
      person: ada,
      badge,
      data: { alarm: 'badge-locked-out', key, severity: 'warning' },
    });
    await rig.event('berlin', DAY - 1000, {
      kind: 'alarm.cleared',
      data: { alarm: 'badge-locked-out', key, detail: 'lockout ended' },
    });
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report.events).toBe(2);
    expect(await count(`events WHERE data::text LIKE '%' || $1 || '%'`, [badge])).toBe(0);
  });

  it('erases a quarantined lock-out clearing that names the badge only in its key', async () => {
    // A gateway's alarm.cleared refused (say, its signature after a key change): valid JSON, the
    // badge only inside the key string.
    await rig.quarantined(
      DAY,
      JSON.stringify({
        kind: 'alarm.cleared',
        site: 'berlin',
        data: { alarm: 'badge-locked-out', key: `badge-locked-out:${badge}` },
      }),
    );
    await rig.quarantined(DAY, JSON.stringify({ data: { key: 'badge-locked-out:BADGE-BOB-0001' } }));
    const report = await rig.service.erasePerson(ada, { reference: 'DSR-Q' }, ADMIN);
    expect(report.quarantine).toBe(1);
    expect(await count('quarantine WHERE position($1::bytea IN payload) > 0', [Buffer.from(badge)])).toBe(0);
    expect(await count('quarantine')).toBe(1);
  });

  it("keeps the alarm.cleared event of a lock-out raised for the badge's earlier holder", async () => {
    const key = `badge-locked-out:${badge}`;
    await rig.event('berlin', 3 * DAY, {
      kind: 'alarm.raised',
      person: 'agent-former',
      badge,
      data: { alarm: 'badge-locked-out', key, severity: 'warning' },
    });
    const cleared = await rig.event('berlin', 3 * DAY - 1000, {
      kind: 'alarm.cleared',
      data: { alarm: 'badge-locked-out', key, detail: 'lockout ended' },
    });
    await rig.event('berlin', DAY, { person: ada, badge });
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report.events).toBe(1);
    expect(await count('events WHERE id = $1', [cleared.id])).toBe(1);
  });

  it("replaces the person as companion in the other person's two-person-rule grant", async () => {
    await rig.event('berlin', DAY, { person: ada, badge, data: { companion: 'agent-bob' } });
    const bobs = await rig.event('berlin', DAY, {
      person: 'agent-bob',
      badge: 'BADGE-BOB-0001',
      data: { companion: ada },
    });
    const report = await rig.service.erasePerson(ada, { reference: 'DSR-1' }, ADMIN);
    expect(report).toMatchObject({ events: 1, companions: 1 });
    expect(await count(`events WHERE data::text LIKE '%' || $1 || '%'`, [ada])).toBe(0);
    const data = await rig.pool.query(`SELECT data ->> 'companion' AS companion FROM events WHERE id = $1`, [
      bobs.id,
    ]);
    expect(data.rows).toEqual([{ companion: 'erased' }]);
  });

  it('keeps a lock-out alarm resolved within a legal hold, though raised and cleared before it', async () => {
    const at = (age: number) => new Date(rig.clock.now() - age);
    await rig.pool.query(
      `INSERT INTO alarms (source, site, alarm, key, severity, state, raised_at, last_seen_at, cleared_at,
                           acknowledged_at, resolved_at)
       VALUES ('gateway', 'berlin', 'badge-locked-out', $1, 'warning', 'resolved', $2, $2, $2, $2, $3)`,
      [`badge-locked-out:${badge}`, at(20 * DAY), at(5 * DAY)],
    );
    await rig.service.addHold(
      { site: 'berlin', from: at(6 * DAY).toISOString(), to: at(4 * DAY).toISOString(), reason: 'case 78' },
      ADMIN,
    );
    const report = await rig.service.erasePerson(ada, {}, ADMIN);
    expect(report.alarms).toBe(0);
    expect(await count('alarms')).toBe(1);
  });

  it('refuses an id that has neither a person nor events', async () => {
    await expect(rig.service.erasePerson('agent-nobody', {}, ADMIN)).rejects.toMatchObject({
      code: 'IDG_PERSON_UNKNOWN',
    });
  });
});
