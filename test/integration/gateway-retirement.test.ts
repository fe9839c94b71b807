import { userInfo } from 'node:os';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/cli-error.js';
import { runGatewaysCommand } from '../../src/cli/gateways-command.js';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import { OverviewStore } from '../../src/dashboard/storage/overview-store.js';
import { hasCode } from '../../src/lib/coded-error.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboard } from '../helpers/ingest-dashboard.js';
import { createTestDatabase, mqttUrl, uniqueSite } from '../helpers/services.js';
import { nextFrom } from '../helpers/wait.js';

/**
 * Retiring a gateway (`identgate gateways retire`), end to end over the real broker and database:
 * what its gaps miss is recorded as lost with a critical alarm, its gap and offline alarms end,
 * the running dashboard refuses its events at once, and a dashboard started later does not trust
 * it again, though its configuration still lists it. A gateway the configuration stops listing is
 * not trusted either.
 */
const keys = generateSigningKeyPair();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig() {
  const site = uniqueSite('ret');
  const db = await createTestDatabase();
  cleanups.push(db.drop);
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) });
  const start = async (gateways: string[]) => {
    const dashboard = await startIngestDashboard({
      databaseUrl: db.url,
      site,
      gateways,
      publicKey: keys.publicKey,
      log,
      more: { gapScanMs: 100, gapGraceMs: 0, gapResendMs: 60_000 },
    });
    let stopped = false;
    cleanups.push(async () => {
      if (!stopped) await dashboard.stop();
    });
    return {
      dashboard,
      stop: async () => {
        stopped = true;
        await dashboard.stop();
      },
    };
  };
  const publisher = await mqtt.connectAsync(mqttUrl(), { clientId: `pub-${site}`, clean: true });
  cleanups.push(() => publisher.endAsync());
  /** Publishes a gateway's event and waits for the dashboard's verdict on it. */
  const send = async (dashboard: Dashboard, gateway: string, seq: number) => {
    const event = signedEvent(
      { site, gateway, seq, kind: 'door.locked', data: { door: `door-${gateway}` } },
      keys.privateKey,
    );
    const outcome = nextFrom(dashboard.ingest.outcomes, () => true, 15_000);
    await publisher.publishAsync(topics.events(site, gateway), JSON.stringify(event), { qos: 1 });
    return outcome;
  };
  const config = dashboardConfigFile(
    db.url,
    `gateways:\n${['gw-1', 'gw-2'].map((id) => `  - { site: ${site}, id: ${id}, publicKey: "${exportPublicKey(keys.publicKey)}" }\n`).join('')}`,
  );
  const cli = (args: string[], reason?: string) =>
    runGatewaysCommand(args, { config: config.file, ...(reason ? { reason } : {}) });
  return { site, db, lines, start, send, cli };
}

async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 25));
}

describe('retiring a gateway', () => {
  it('records what its gaps miss as lost, ends its gap alarm, and every dashboard refuses its events from then on', async () => {
    const { site, lines, start, send, cli } = await rig();
    const { dashboard, stop } = await start(['gw-1', 'gw-2']);
    const pool = dashboard.pool;
    // gw-1 misses 3-4 and 6-7.
    for (const seq of [1, 2, 5, 8]) expect((await send(dashboard, 'gw-1', seq)).status).toBe('stored');
    expect((await send(dashboard, 'gw-2', 1)).status).toBe('stored');
    const openGap = async () =>
      (
        await pool.query(
          `SELECT 1 FROM alarms WHERE site = $1 AND gateway = 'gw-1' AND key = 'sequence-gap' AND cleared_at IS NULL`,
          [site],
        )
      ).rowCount === 1;
    await until(openGap);
    // The first number missing, whether or not the gap scanner has moved the watermark yet.
    expect(await cli(['list'])).toEqual([
      `${site}/gw-1  trusted  highest 8, a gap from 3`,
      `${site}/gw-2  trusted  highest 1`,
    ]);

    // A credential set too large for it (a state alarm, which nothing else would end now).
    await dashboard.alarms.raiseCentral({
      alarm: 'credentials-unpublished',
      key: 'credentials-too-large',
      severity: 'critical',
      site,
      gateway: 'gw-1',
    });
    // Conditions the gateway raised itself end with it; an incident and another gateway's stay.
    await pool.query(
      `INSERT INTO alarms (source, site, gateway, alarm, key, severity) VALUES
         ('gateway', $1, 'gw-1', 'camera-down', 'camera-down:cam-1', 'critical'),
         ('gateway', $1, 'gw-1', 'duress', 'duress:main', 'critical'),
         ('gateway', $1, 'gw-2', 'camera-down', 'camera-down:cam-2', 'critical')`,
      [site],
    );
    expect(await cli(['retire', `${site}/gw-1`], 'SD card replaced')).toEqual([
      expect.stringMatching(new RegExp(`^retired ${site}/gw-1 at .*: its events are refused`)),
      '4 missing events in 2 runs recorded as lost (a critical events-lost alarm names them)',
      expect.stringContaining(`remove ${site}/gw-1 from gateways:`),
    ]);
    const losses = await pool.query(
      'SELECT from_seq::int, to_seq::int, reason FROM sequence_losses WHERE site = $1 ORDER BY from_seq',
      [site],
    );
    expect(losses.rows).toEqual([
      { from_seq: 3, to_seq: 4, reason: 'gateway retired: SD card replaced' },
      { from_seq: 6, to_seq: 7, reason: 'gateway retired: SD card replaced' },
    ]);
    expect(await openGap()).toBe(false);
    const unpublished = await pool.query(
      `SELECT 1 FROM alarms WHERE site = $1 AND key = 'credentials-too-large' AND cleared_at IS NULL`,
      [site],
    );
    expect(unpublished.rowCount).toBe(0);
    const gatewayAlarms = await pool.query<{
      id: string;
      gateway: string;
      key: string;
      detail: string | null;
    }>(
      `SELECT id, gateway, key, cleared_detail AS detail FROM alarms
        WHERE site = $1 AND source = 'gateway' ORDER BY gateway, key`,
      [site],
    );
    expect(gatewayAlarms.rows.map(({ id: _, ...rest }) => rest)).toEqual([
      {
        gateway: 'gw-1',
        key: 'camera-down:cam-1',
        detail: 'the gateway was retired (SD card replaced): nothing reports this condition any more',
      },
      { gateway: 'gw-1', key: 'duress:main', detail: null },
      { gateway: 'gw-2', key: 'camera-down:cam-2', detail: null },
    ]);
    const cameraDown = gatewayAlarms.rows[0]?.id;
    const lost = await pool.query(
      `SELECT severity, detail FROM alarms WHERE site = $1 AND key = 'events-lost:retired' AND cleared_at IS NULL`,
      [site],
    );
    expect(lost.rows).toEqual([
      {
        severity: 'critical',
        detail: `events 3-4, 6-7 of ${site}/gw-1 (4 in all) are lost: the gateway was retired (SD card replaced)`,
      },
    ]);
    const audit = await pool.query(
      `SELECT actor, target, details FROM audit_log WHERE action = 'gateway.retire'`,
    );
    expect(audit.rows).toEqual([
      {
        actor: `cli:${userInfo().username}`,
        target: `${site}/gw-1`,
        details: {
          reason: 'SD card replaced',
          lostRuns: 2,
          lostNumbers: 4,
          conditionsCleared: [{ id: Number(cameraDown), alarm: 'camera-down' }],
        },
      },
    ]);

    // The overview no longer shows it (its last sign of life would keep it online for days).
    const facts = await new OverviewStore(pool, silentLogger).read();
    expect(facts.gateways.filter((g) => g.site === site).map((g) => g.id)).toEqual(['gw-2']);

    // The running dashboard heard of it and forgot the gateway: its next event is refused.
    await until(() => dashboard.registry.get(site, 'gw-1') === undefined);
    const refused = await send(dashboard, 'gw-1', 9);
    expect(refused).toMatchObject({ status: 'quarantined', rejection: { reason: 'unknown-gateway' } });
    expect((await send(dashboard, 'gw-2', 2)).status).toBe('stored');
    // Its watermark stays where the retirement left it: no new gap is asked for.
    const sequences = await pool.query(
      `SELECT contiguous_through::int, highest::int FROM gateway_sequences WHERE site = $1 AND gateway = 'gw-1'`,
      [site],
    );
    expect(sequences.rows).toEqual([{ contiguous_through: 8, highest: 8 }]);

    // Once is enough; an id never trusted cannot be retired.
    expect(await cli(['retire', `${site}/gw-1`], 'again')).toEqual([
      expect.stringMatching(new RegExp(`^${site}/gw-1 was already retired on `)),
    ]);
    await expect(cli(['retire', `${site}/gw-9`], 'typo')).rejects.toSatisfy((error) =>
      hasCode(error, 'IDG_GATEWAY_UNKNOWN'),
    );
    expect(await cli(['list'])).toEqual([
      expect.stringMatching(new RegExp(`^${site}/gw-1  retired .* \\(SD card replaced\\)  highest 8$`)),
      `${site}/gw-2  trusted  highest 2`,
    ]);

    // Started again with a configuration that still lists it: not trusted again, and said so.
    // gw-2, no longer listed, is not trusted either.
    await stop();
    const { dashboard: again } = await start(['gw-1']);
    expect(again.registry.get(site, 'gw-1')).toBeUndefined();
    expect(again.registry.get(site, 'gw-2')).toBeUndefined();
    expect(lines.some((line) => line.includes(`gateway ${site}/gw-1 was retired on`))).toBe(true);
    expect(
      lines.some((line) => line.includes('no longer listed under gateways') && line.includes(`${site}/gw-2`)),
    ).toBe(true);
    await expect(again.trustGateway(site, 'gw-1', exportPublicKey(keys.publicKey))).rejects.toSatisfy(
      (error) => hasCode(error, 'IDG_GATEWAY_RETIRED'),
    );
    expect((await send(again, 'gw-2', 3)).status).toBe('quarantined');
  });

  it('takes the locks of the ingest in its order, so an ingest transaction under way does not deadlock with it', async () => {
    const { site, start, send, cli } = await rig();
    const { dashboard } = await start(['gw-1']);
    for (const seq of [1, 3]) expect((await send(dashboard, 'gw-1', seq)).status).toBe('stored');
    // An ingest transaction after its insert: it holds the ingest-order lock and the site's chain
    // lock, and updates the gateway's sequence row last.
    const ingest = await dashboard.pool.connect();
    try {
      await ingest.query('BEGIN');
      await ingest.query('SELECT identgate_take_ingest_order()');
      await ingest.query(`SELECT pg_advisory_xact_lock(hashtextextended('identgate-chain:' || $1, 0))`, [
        site,
      ]);
      const retiring = cli(['retire', `${site}/gw-1`], 'stolen');
      await until(
        async () =>
          ((
            await dashboard.pool.query(
              `SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()`,
            )
          ).rowCount ?? 0) > 0,
      );
      await ingest.query(
        `UPDATE gateway_sequences SET highest = highest WHERE site = $1 AND gateway = 'gw-1'`,
        [site],
      );
      await ingest.query('COMMIT');
      expect((await retiring)[1]).toBe(
        '1 missing events in 1 runs recorded as lost (a critical events-lost alarm names them)',
      );
    } finally {
      await ingest.query('ROLLBACK').catch(() => undefined);
      ingest.release();
    }
  });

  it('refuses events checked before the retirement that reach the database after it', async () => {
    const { site, lines, start, send, cli } = await rig();
    const { dashboard } = await start(['gw-1', 'gw-2']);
    for (const seq of [1, 3]) expect((await send(dashboard, 'gw-1', seq)).status).toBe('stored');
    const pipeline = dashboard.ingestPipeline;
    const message = async (gateway: string, seq: number) => {
      const topic = topics.events(site, gateway);
      const payload = Buffer.from(
        JSON.stringify(
          signedEvent(
            { site, gateway, seq, kind: 'door.locked', data: { door: `door-${gateway}` } },
            keys.privateKey,
          ),
        ),
      );
      // Checked as it arrived, while the gateway was still trusted here.
      return { topic, payload, checked: await pipeline.check({ topic, payload }) };
    };
    const late = await message('gw-1', 4);
    const poison = await message('gw-1', 5);
    const other = await message('gw-2', 1);
    expect(late.checked).toMatchObject([{ ok: true }]);

    expect((await cli(['retire', `${site}/gw-1`], 'stolen'))[1]).toBe(
      '1 missing events in 1 runs recorded as lost (a critical events-lost alarm names them)',
    );
    const [gw1, gw2] = await pipeline.process([late, other]);
    expect(gw1).toMatchObject([{ status: 'quarantined', rejection: { reason: 'unknown-gateway' } }]);
    expect(gw2).toMatchObject([{ status: 'stored' }]);
    expect(lines.some((line) => line.includes('gateways retired while their events were being stored'))).toBe(
      true,
    );
    expect(dashboard.registry.get(site, 'gw-1')).toBeUndefined();
    // One that could not be stored at all (a poison message) is kept, without taking its number.
    const [poisonEvent] = poison.checked;
    if (!poisonEvent?.ok) throw new Error('checked as sound');
    expect(
      await pipeline.quarantineUnstorable(poison.topic, 'could not be stored: test', poison.payload, {
        site,
        gateway: 'gw-1',
        seq: 5,
        id: poisonEvent.value.id,
      }),
    ).toMatchObject({ status: 'quarantined', rejection: { reason: 'unstorable' } });

    // Nothing of it is kept but the quarantined payload: no event, no number, no new gap.
    const pool = dashboard.pool;
    const held = await pool.query(
      `SELECT seq::int FROM event_sequences WHERE site = $1 AND gateway = 'gw-1' ORDER BY seq`,
      [site],
    );
    expect(held.rows).toEqual([{ seq: 1 }, { seq: 3 }]);
    const stored = await pool.query(`SELECT seq::int FROM events WHERE site = $1 AND gateway = 'gw-1'`, [
      site,
    ]);
    expect(stored.rows.map((r) => r.seq).sort()).toEqual([1, 3]);
    const sequences = await pool.query(
      `SELECT contiguous_through::int, highest::int FROM gateway_sequences WHERE site = $1 AND gateway = 'gw-1'`,
      [site],
    );
    expect(sequences.rows).toEqual([{ contiguous_through: 3, highest: 3 }]);
    expect((await send(dashboard, 'gw-2', 2)).status).toBe('stored');
  });

  it('refuses a retirement without a reason or a <site>/<id>, before touching the database', async () => {
    const usage = (args: string[], reason?: string) =>
      expect(
        runGatewaysCommand(args, { config: '/nonexistent.yaml', ...(reason ? { reason } : {}) }),
      ).rejects.toBeInstanceOf(UsageError);
    await usage(['retire', 'hq/gw-1']);
    await usage(['retire', 'hq/gw-1'], '   ');
    await usage(['retire', 'gw-1'], 'why');
    await usage(['retire', 'hq/../gw-1'], 'why');
    await usage(['list', 'extra']);
  });
});
