import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import { ADMIN, DAY, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * What PostgreSQL keeps of deleted personal data outside the rows: the planner's statistics
 * sample column values (person ids, badges, payloads), and the partitioned `events` parent's are
 * never refreshed by autovacuum. Retention and erasure refresh them.
 */
describe('statistics after retention and erasure', () => {
  let rig: RetentionRig;
  let people: PeopleStore;
  const ada = 'agent-ada-4711';
  const badge = 'BADGE-ADA-SECRET';

  beforeAll(async () => {
    rig = await startRetentionRig();
    people = new PeopleStore(rig.pool, randomBytes(32));
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await people.upsertPerson({ id: ada, displayName: 'Ada Secret-Name' });
    await people.grantSite(ada, 'berlin');
    await people.addBadge(badge, ada);
  });

  /** The statistics rows, of any table, whose sampled values mention `text`. */
  const statisticsNaming = async (text: string) =>
    (
      await rig.pool.query<{ table: string; column: string; inherited: boolean }>(
        `SELECT tablename AS table, attname AS column, inherited FROM pg_stats
          WHERE schemaname = current_schema()
            AND (most_common_vals::text LIKE '%' || $1 || '%' OR histogram_bounds::text LIKE '%' || $1 || '%')`,
        [text],
      )
    ).rows;

  /** Many events of the person, so that the sample's most common values name them. */
  async function eventsOf(person: string, age: number, count: number) {
    const theirs = person === ada ? badge : 'BADGE-BOB';
    for (let i = 0; i < count; i++) await rig.event('berlin', age, { person, badge: theirs });
  }

  it('forgets a person whose events retention dropped with their partition', async () => {
    await eventsOf(ada, 90 * DAY, 30);
    await eventsOf('agent-bob', DAY, 30);
    // As migration 0020 did, and as an administrator may: the parent's own statistics.
    await rig.pool.query('ANALYZE events');
    expect(await statisticsNaming(ada)).toContainEqual({
      table: 'events',
      column: 'person',
      inherited: true,
    });

    await rig.service.runNow({ dryRun: false });

    expect(await rig.eventIds()).toHaveLength(30);
    expect(await statisticsNaming(ada)).toEqual([]);
    expect(await statisticsNaming('agent-bob')).not.toEqual([]);
  });

  it('forgets an erased person in every table that held them', async () => {
    // Others' events stay on both days: a table left empty keeps its statistics (PostgreSQL
    // analyses no rows), until retention drops its partition.
    for (const age of [3 * DAY, 2 * DAY]) {
      await eventsOf(ada, age, 30);
      await eventsOf('agent-bob', age, 5);
    }
    await rig.pool.query('ANALYZE');
    // The parent's and each day partition's.
    expect((await statisticsNaming(ada)).length).toBeGreaterThan(2);

    await rig.service.erasePerson(ada, { reference: 'DSR-1' }, ADMIN);

    expect(await statisticsNaming(ada)).toEqual([]);
    expect(await statisticsNaming(badge)).toEqual([]);
  });
});
