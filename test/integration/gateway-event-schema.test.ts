import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { EventBody } from '../../src/protocol/event-kinds.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { collectFrom } from '../helpers/wait.js';

/**
 * The gateway checks each event against its kind's schema before signing it. An event that fails
 * (a defect in the gateway's software) still reaches the central side, which quarantines it, and
 * the gateway's own alarm about it is stored beside it.
 */
describe('gateway events their schema refuses', () => {
  let system: TestSystem;
  let db: pg.Client;

  beforeAll(async () => {
    system = await startTestSystem();
    db = new pg.Client({ connectionString: system.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await system?.stop();
  });

  const schemaAlarms = async () =>
    (
      await db.query(
        `SELECT alarm, key, severity, detail FROM alarms WHERE key LIKE 'event-schema:%' ORDER BY id`,
      )
    ).rows;

  it('raises no schema alarm for a grant through the door', async () => {
    const sim = (...action: string[]) =>
      runSim({ action, door: 'main', socket: system.gateway.simSocketPath });
    await sim('badge', system.agent.badge);
    expect(await sim('keypad', new TotpVerifier().generate(system.agent.secret, Date.now()))).toEqual([
      'granted: unlocked for 5 s',
    ]);
    const { site, gateway, dashboard } = system;
    expect(await dashboard.waitForSequence(site, 'gw-1', gateway.lastSequence, 10_000)).toBe(true);
    expect(await schemaAlarms()).toEqual([]);
  });

  it('sends an event with a field its kind lacks: quarantined centrally, with the gateway alarm stored', async () => {
    const { agent, site } = system;
    // The refused event and the gateway's alarm about it; not a door's own later events (the
    // grant above relocks its door 5 s on, which may fall inside this test).
    const outcomes = collectFrom(
      system.dashboard.ingest.outcomes,
      2,
      (o) => o.topic.includes(`/${site}/`) && (o.status !== 'stored' || o.event.kind === 'alarm.raised'),
    );
    const data = {
      door: 'main',
      direction: 'in',
      person: agent.person,
      badge: agent.badge,
      factors: ['badge', 'totp'],
      unlockMs: 5000,
      name: 'Ada Agent',
    };
    const sent = system.gateway.record({ kind: 'access.granted', data } as EventBody);

    const results = await outcomes;
    expect(results.map((o) => (o.status === 'quarantined' ? o.rejection.reason : o.status)).sort()).toEqual([
      'bad-data',
      'stored',
    ]);
    const quarantined = await db.query<{ payload: Buffer }>(
      `SELECT payload FROM quarantine WHERE reason = 'bad-data'`,
    );
    expect(quarantined.rows.map((r) => JSON.parse(r.payload.toString('utf8')).id)).toContain(sent.id);
    const alarms = await schemaAlarms();
    expect(alarms).toEqual([
      {
        alarm: 'internal-error',
        key: 'event-schema:access.granted',
        severity: 'warning',
        detail: expect.stringMatching(
          /^access\.granted: \/data\/ must not have additional properties: "name"/,
        ),
      },
    ]);
    for (const value of [agent.person, agent.badge, 'Ada Agent'])
      expect(alarms[0]?.detail).not.toContain(value);

    // The gateway never clears it: staff resolve it once the defect has been dealt with.
    const { rows } = await db.query<{ id: number }>(
      `SELECT id FROM alarms WHERE key = 'event-schema:access.granted'`,
    );
    const id = Number(rows[0]?.id);
    const store = system.dashboard.alarms;
    expect((await store.acknowledge(id, 'officer', 'seen', db)).ok).toBe(true);
    expect(await store.resolve(id, 'officer', 'gateway updated', db)).toMatchObject({
      ok: true,
      alarm: { state: 'resolved' },
    });
  });
});
