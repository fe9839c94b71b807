import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TOMBSTONE_MARGIN_DAYS } from '../../src/dashboard/retention/tombstone-expiry.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { ADMIN, DAY, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * An erased person's tombstones stay while an event of theirs could still be stored — the longest
 * events retention plus a margin after the erasure, and while a legal hold could let one in — and
 * the retention run removes them then.
 */
describe('tombstones of erased people under retention', () => {
  let rig: RetentionRig;
  let people: PeopleStore;

  beforeAll(async () => {
    rig = await startRetentionRig();
    people = new PeopleStore(rig.pool, randomBytes(32));
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.pool.query('TRUNCATE erasure_tombstones');
    rig.clock.advance(NOW - rig.clock.now());
    await people.upsertPerson({ id: 'agent-gone', displayName: 'Gone' });
    await people.addBadge('BADGE-GONE-1', 'agent-gone');
    await people.addBadge('BADGE-GONE-2', 'agent-gone');
    await rig.service.erasePerson('agent-gone', {}, ADMIN);
  });

  const tombstones = async () =>
    (await rig.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM erasure_tombstones')).rows[0]?.n;
  const runAt = async (days: number, dryRun = false) => {
    rig.clock.advance(NOW + days * DAY - rig.clock.now());
    return rig.service.runNow({ dryRun });
  };

  it('writes one for the person and one per badge, none with --keep-events', async () => {
    expect(await tombstones()).toBe(3);
    await people.upsertPerson({ id: 'agent-kept', displayName: 'Kept' });
    await rig.service.erasePerson('agent-kept', { keepEvents: true }, ADMIN);
    expect(await tombstones()).toBe(3);
  });

  it('keeps them for the longest events retention (60 days by default) plus the margin, then removes and logs them', async () => {
    const kept = 60 + TOMBSTONE_MARGIN_DAYS;
    await runAt(kept - 1);
    expect(await tombstones()).toBe(3);
    const dry = await runAt(kept + 1, true);
    expect(dry.entries).toContainEqual(
      expect.objectContaining({ dataClass: 'erasure-tombstones', count: 3 }),
    );
    expect(await tombstones()).toBe(3);
    const report = await runAt(kept + 1);
    expect(report.entries).toContainEqual(
      expect.objectContaining({ dataClass: 'erasure-tombstones', scope: 'global', site: null, count: 3 }),
    );
    expect(await tombstones()).toBe(0);
  });

  it("follows the longest retention in force, whichever site's it is", async () => {
    await rig.service.setPolicy({ dataClass: 'video', scope: 'site', scopeId: 'hamburg', days: 200 }, ADMIN);
    await runAt(60 + TOMBSTONE_MARGIN_DAYS + 1);
    expect(await tombstones()).toBe(3);
    await runAt(200 + TOMBSTONE_MARGIN_DAYS + 1);
    expect(await tombstones()).toBe(0);
  });

  it('keeps them while a legal hold reaches back to when their events may be dated', async () => {
    const at = (days: number) => new Date(NOW + days * DAY).toISOString();
    const hold = await rig.service.addHold(
      { site: 'berlin', from: at(-30), to: at(-20), reason: 'case 12' },
      ADMIN,
    );
    await runAt(60 + TOMBSTONE_MARGIN_DAYS + 1);
    expect(await tombstones()).toBe(3);
    await rig.service.releaseHold(hold.id, ADMIN);
    await runAt(60 + TOMBSTONE_MARGIN_DAYS + 2);
    expect(await tombstones()).toBe(0);
  });

  it('takes no policy of its own', async () => {
    await expect(
      rig.service.setPolicy({ dataClass: 'erasure-tombstones', scope: 'global', days: 10 }, ADMIN),
    ).rejects.toThrow(/takes no policy/);
  });
});
