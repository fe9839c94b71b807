import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retentionSettings } from '../../src/config/dashboard-config.js';
import { RetentionService } from '../../src/dashboard/retention/retention-service.js';
import { SequenceStore } from '../../src/dashboard/storage/sequence-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { ADMIN, DAY, HOUR, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** Retention of `events` against real PostgreSQL: berlin (acme) and hamburg (beta), now = NOW. */
describe('retention of events', () => {
  let rig: RetentionRig;

  beforeAll(async () => {
    rig = await startRetentionRig();
  });
  afterAll(async () => rig.close());
  beforeEach(async () => {
    await rig.reset();
    await rig.service.setPolicy({ dataClass: 'access-events', scope: 'global', days: 60 }, ADMIN);
  });

  const run = () => rig.service.runNow({ dryRun: false });
  const numbers = () => new SequenceStore(rig.pool);

  it('deletes events 61 days old and keeps events 59 days old under a 60-day policy', async () => {
    const old = await rig.event('berlin', 61 * DAY);
    const recent = await rig.event('berlin', 59 * DAY);
    await run();
    expect(await rig.eventIds()).toEqual([recent.id]);
    expect(await rig.eventIds()).not.toContain(old.id);
  });

  it("deletes a customer's events under its 30-day override from a partition whose other rows stay", async () => {
    await rig.service.setPolicy(
      { dataClass: 'access-events', scope: 'customer', scopeId: 'beta', days: 30 },
      ADMIN,
    );
    const berlin = await rig.event('berlin', 59 * DAY);
    await rig.event('hamburg', 59 * DAY);
    const report = await run();
    expect(await rig.eventIds()).toEqual([berlin.id]);
    expect(await rig.partitionNames()).toContain(rig.partitionOf(59 * DAY));
    expect(report.entries).toEqual([
      expect.objectContaining({
        dataClass: 'access-events',
        site: 'hamburg',
        scope: 'customer:beta',
        method: 'delete',
        count: 1,
      }),
    ]);
  });

  it('drops a partition in which every row has expired', async () => {
    await rig.event('berlin', 61 * DAY);
    await rig.event('hamburg', 61 * DAY);
    await rig.event('hamburg', 61 * DAY, { kind: 'camera.up', data: { camera: 'cam-1', restarts: 0 } });
    const report = await run();
    expect(await rig.partitionNames()).not.toContain(rig.partitionOf(61 * DAY));
    expect(report.entries.map((e) => [e.method, e.dataClass, e.site, e.count])).toEqual([
      ['partition-drop', 'access-events', 'berlin', 1],
      ['partition-drop', 'access-events', 'hamburg', 1],
      ['partition-drop', 'video', 'hamburg', 1],
    ]);
  });

  it('deletes row by row where the cutoff falls inside a partition', async () => {
    const expired = await rig.event('berlin', 60 * DAY + 6 * HOUR);
    const kept = await rig.event('berlin', 60 * DAY - 6 * HOUR);
    expect(rig.partitionOf(60 * DAY + 6 * HOUR)).toBe(rig.partitionOf(60 * DAY - 6 * HOUR));
    const report = await run();
    expect(await rig.eventIds()).toEqual([kept.id]);
    expect(await rig.eventIds()).not.toContain(expired.id);
    expect(report.entries.map((e) => e.method)).toEqual(['delete']);
  });

  it('deletes in batches until nothing expired is left', async () => {
    const small = new RetentionService({
      pool: rig.pool,
      clock: rig.clock,
      log: silentLogger,
      settings: retentionSettings({ retention: { batchSize: 100 } }),
    });
    await rig.pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [
      new Date(rig.clock.now() - 60 * DAY).toISOString().slice(0, 10),
    ]);
    await rig.pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, data, signature)
       SELECT gen_random_uuid(), $1::timestamptz - (n || ' seconds')::interval, 1, 'berlin', 'gw-bulk', n,
              'door.locked', '{"door":"main"}', 'x'
         FROM generate_series(1, 350) AS n`,
      [new Date(rig.clock.now() - 60 * DAY - HOUR)],
    );
    const report = await small.runNow({ dryRun: false });
    expect(report.entries.reduce((n, e) => n + e.count, 0)).toBe(350);
    expect(await rig.eventIds()).toEqual([]);
  });

  it('deletes video rows under their own shorter period, and footage links with their access events', async () => {
    await rig.service.setPolicy({ dataClass: 'video', scope: 'site', scopeId: 'berlin', days: 7 }, ADMIN);
    await rig.service.setPolicy(
      { dataClass: 'access-events', scope: 'site', scopeId: 'hamburg', days: 7 },
      ADMIN,
    );
    const berlinAccess = await rig.event('berlin', 10 * DAY);
    await rig.event('berlin', 10 * DAY, { kind: 'video.segment', data: { camera: 'cam-1' } });
    await rig.event('hamburg', 10 * DAY);
    const hamburgVideo = await rig.event('hamburg', 10 * DAY, {
      kind: 'video.segment',
      data: { camera: 'cam-1' },
    });
    await rig.event('hamburg', 10 * DAY, { kind: 'video.footage-linked', data: { camera: 'cam-1' } });
    await run();
    expect((await rig.eventIds()).sort()).toEqual([berlinAccess.id, hamburgVideo.id].sort());
  });

  it('takes the sequence numbers of deleted events along, and still refuses a replay of one', async () => {
    const old = await rig.event('berlin', 61 * DAY);
    const recent = await rig.event('berlin', 59 * DAY);
    await numbers().scanGaps(); // as the gap scanner does every few seconds
    await run();
    const sequences = await rig.pool.query('SELECT seq::int FROM event_sequences ORDER BY seq');
    expect(sequences.rows).toEqual([{ seq: recent.seq }]);
    const replay = { site: 'berlin', gateway: old.gateway, seq: old.seq, id: randomUUID() } as Envelope;
    const claims = await numbers().claim([replay], rig.pool);
    expect(claims.fresh).toEqual([]);
    expect(claims.replays).toEqual([{ envelope: replay, knownId: 'one deleted by retention' }]);
  });

  it('retires no number that has not arrived yet, when an event with a later number is dated long ago', async () => {
    // A gateway whose clock went back: 1–3 arrived, 4 and 5 are on their way, 6 is dated a year ago.
    for (const seq of [1, 2, 3]) await rig.event('berlin', HOUR, { seq });
    const stale = await rig.event('berlin', 365 * DAY, { seq: 6 });
    await numbers().scanGaps();
    await run();
    expect(await rig.eventIds()).not.toContain(stale.id);
    const watermarks = await rig.pool.query(
      'SELECT contiguous_through::int, retired_through::int FROM gateway_sequences',
    );
    expect(watermarks.rows).toEqual([{ contiguous_through: 3, retired_through: 3 }]);
    const late = [4, 5].map(
      (seq) => ({ site: 'berlin', gateway: stale.gateway, seq, id: randomUUID() }) as Envelope,
    );
    const claims = await numbers().claim(late, rig.pool);
    expect(claims.fresh).toEqual(late);
    // Number 6 stays taken by the deleted event until a later run retires it.
    const again = { site: 'berlin', gateway: stale.gateway, seq: 6, id: randomUUID() } as Envelope;
    expect((await numbers().claim([again], rig.pool)).replays).toEqual([
      { envelope: again, knownId: stale.id },
    ]);
  });

  it('creates the partitions of today and the coming seven days', async () => {
    await run();
    const partitions = await rig.partitionNames();
    for (let day = 0; day <= 7; day++) expect(partitions).toContain(rig.partitionOf(-day * DAY));
  });

  it('changes nothing in a dry run, and reports the counts that a real run then deletes', async () => {
    await rig.service.setPolicy(
      { dataClass: 'access-events', scope: 'customer', scopeId: 'beta', days: 30 },
      ADMIN,
    );
    for (const age of [61 * DAY, 60 * DAY + HOUR, 59 * DAY, 40 * DAY, 10 * DAY]) {
      await rig.event('berlin', age);
      await rig.event('hamburg', age);
    }
    await rig.alarm('berlin', 70 * DAY);
    await rig.quarantined(70 * DAY);
    const before = await rig.snapshot();
    const dry = await rig.service.runNow({ dryRun: true });
    expect(await rig.snapshot()).toEqual(before);
    const real = await run();
    const summary = (r: typeof dry) =>
      r.entries.map((e) => [e.method, e.dataClass, e.site, e.scope, e.from, e.to, e.count]).sort();
    expect(summary(dry)).toEqual(summary(real));
    expect(real.entries.reduce((n, e) => n + e.count, 0)).toBe(8);
    const logged = await rig.service.deletionLog({ runId: dry.runId });
    expect(logged.every((row) => row.dryRun)).toBe(true);
    expect(logged).toHaveLength(dry.entries.length);
  });
});
