import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ErasedRefusals } from '../../src/dashboard/ingest/erased-refusals.js';
import { PeopleStore } from '../../src/dashboard/storage/people-store.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { ADMIN, DAY, HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';
import { until } from '../helpers/wait.js';

/**
 * An erasure and the ingest at the same time: an event of the person is either stored before the
 * erasure starts (and deleted by it) or checked after it commits (and refused by its tombstones),
 * never stored in between, unseen by both.
 */
describe('an erasure while the ingest runs', () => {
  let rig: RetentionRig;
  const ada = 'agent-ada-race';
  const badge = 'BADGE-ADA-RACE';
  const chainLock = `hashtextextended('identgate-chain:_central', 0)`;

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    const people = new PeopleStore(rig.pool, randomBytes(32));
    await people.upsertPerson({ id: ada, displayName: 'Ada' });
    await people.addBadge(badge, ada);
  });

  const waitingAdvisoryLocks = async () =>
    (
      await rig.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
      )
    ).rows[0]?.n ?? 0;

  it("holds back an ingest transaction naming anyone until the erasure commits, and then refuses the person's event", async () => {
    await rig.event('berlin', DAY, { person: ada, badge });
    // Pauses the erasure at its end: its audit entry waits for the central chain's lock.
    const holder = await rig.pool.connect();
    await holder.query(`SELECT pg_advisory_lock(${chainLock})`);
    const erasing = rig.service.erasePerson(ada, { reference: 'DSR-RACE' }, ADMIN);
    await until(async () => (await waitingAdvisoryLocks()) === 1, 'the erasure to wait for the chain lock');

    // An ingest transaction with an event of hers from before the erasure, arriving now.
    const late = {
      v: 1,
      id: randomUUID(),
      site: 'berlin',
      gateway: 'gw-berlin',
      seq: 99,
      time: new Date(NOW - HOUR).toISOString(),
      kind: 'access.denied',
      data: { door: 'main', direction: 'in', person: ada, badge, reason: 'outside-schedule' },
      sig: 'signature',
    } as unknown as Envelope;
    const ingest = await rig.pool.connect();
    await ingest.query('BEGIN');
    const accepted = [{ envelope: late }];
    let settled = false;
    const taking = new ErasedRefusals().take(ingest, accepted).finally(() => {
      settled = true;
    });
    await until(async () => (await waitingAdvisoryLocks()) === 2, 'the ingest to wait for the erasure');
    expect(settled).toBe(false);

    await holder.query(`SELECT pg_advisory_unlock(${chainLock})`);
    holder.release();
    expect(await erasing).toMatchObject({ events: 1 });
    const taken = await taking;
    await ingest.query('COMMIT');
    ingest.release();
    expect(taken.map((t) => t.rejection.reason)).toEqual(['erased-person']);
    expect(accepted).toEqual([]);
  });
});
