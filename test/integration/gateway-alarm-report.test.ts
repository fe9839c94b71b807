import { rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import { ALARM_CONDITIONS_FILE } from '../../src/gateway/alarm-condition-file.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import { conditionDigest } from '../../src/protocol/alarm-report.js';
import type { Envelope } from '../../src/protocol/envelope.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';
import { startTestSystem, type TestSystem, testGatewayConfig } from '../helpers/system.js';
import { nextFrom } from '../helpers/wait.js';

/**
 * A gateway reports the alarm conditions it holds when the central side asks (at each start,
 * once its alarm book has settled), and the central side closes the gateway's open conditions
 * raised before the report that it does not list: also those the gateway forgot with its alarm
 * file. Over the real broker and database.
 */

/** The alarm rows of one gateway, by key, as the central side holds them. */
async function alarmRows(dashboard: Dashboard, site: string, gateway: string) {
  const { rows } = await dashboard.pool.query<{
    key: string;
    source: string;
    occurrences: number;
    cleared: boolean;
    cleared_detail: string | null;
  }>(
    `SELECT key, source, occurrences, cleared_at IS NOT NULL AS cleared, cleared_detail FROM alarms
      WHERE site = $1 AND gateway = $2 ORDER BY id`,
    [site, gateway],
  );
  return rows;
}

describe('a gateway that restarts without its alarm file', () => {
  let system: TestSystem;
  let gateway: Gateway;

  beforeAll(async () => {
    system = await startTestSystem();
    gateway = system.gateway;
  });

  afterAll(async () => {
    if (gateway !== system?.gateway) await gateway?.stop();
    await system?.stop();
  });

  /** Waits until the dashboard stored every event the running gateway recorded so far. */
  async function stored(): Promise<void> {
    await gateway.drained();
    expect(await system.dashboard.waitForSequence(system.site, 'gw-1', gateway.lastSequence, 10_000)).toBe(
      true,
    );
  }

  /** The next event of the running gateway that matches. */
  function next(test: (e: Envelope) => boolean): Promise<Envelope> {
    return new Promise((resolve) => {
      const off = gateway.bus.on('test', 'recorded', (event) => {
        if (!test(event)) return;
        off();
        resolve(event);
      });
    });
  }

  it('has the conditions it no longer holds closed by its report, and nothing else', async () => {
    const { site, dashboard } = system;
    const camera = (id: string) =>
      gateway.record({ kind: 'camera.down', data: { camera: id, reason: 'exit', retryInMs: 1000 } });
    camera('cam-gone');
    camera('cam-still');
    gateway.runtime.alarms.notify({
      alarm: 'duress',
      key: 'duress:main:1',
      severity: 'critical',
      silent: true,
    });
    await dashboard.alarms.raiseCentral({
      alarm: 'gateway-offline',
      key: 'gateway-offline:maintenance',
      severity: 'warning',
      site,
      gateway: 'gw-1',
    });
    await stored();

    // A new SD card: the state directory keeps its identity and outbox, the alarm file is gone.
    await gateway.stop();
    rmSync(join(gateway.stateDir, ALARM_CONDITIONS_FILE));
    gateway = new Gateway({
      config: testGatewayConfig(site, gateway.stateDir, {
        central: { publicKey: system.centralPublicKey },
        alarmSettleSeconds: 2,
      }),
      log: silentLogger,
    });
    const report = next((e) => e.kind === 'alarm.conditions');
    await gateway.start();
    // The camera that is still down is seen again while the book settles.
    camera('cam-still');
    const reported = await report;
    expect(reported.data).toMatchObject({ held: 1, conditions: [{ alarm: 'camera-down' }] });
    await stored();

    const rows = await alarmRows(dashboard, site, 'gw-1');
    const row = (key: string) => rows.find((r) => r.key === key);
    expect(row('camera-down:cam-gone')).toEqual({
      key: 'camera-down:cam-gone',
      source: 'gateway',
      occurrences: 1,
      cleared: true,
      cleared_detail: `the gateway reported the condition ended: its report of the conditions it holds (event ${reported.seq}) does not list it`,
    });
    // Still held: raised again in this run, counted on the alarm that stayed open.
    expect(row('camera-down:cam-still')).toMatchObject({ occurrences: 2, cleared: false });
    // An incident waits for staff; the central side's own alarm is not the gateway's to end.
    expect(row('duress:main:1')).toMatchObject({ cleared: false });
    expect(row('gateway-offline:maintenance')).toMatchObject({ source: 'central', cleared: false });

    const audit = await dashboard.pool.query(
      `SELECT actor, target, details FROM audit_log WHERE action = 'alarm.cleared-by-report'`,
    );
    expect(audit.rows).toEqual([
      {
        actor: 'system',
        target: `${site}/gw-1`,
        details: {
          event: reported.id,
          seq: reported.seq,
          alarms: [{ id: expect.any(Number), alarm: 'camera-down' }],
        },
      },
    ]);
  });
});

describe('alarm events that arrive out of order around a report', () => {
  const gatewayKeys = generateSigningKeyPair();
  const central = generateSigningKeyPair();
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A dashboard, and a gateway played by a raw MQTT client that signs as one and reads its commands. */
  async function rig() {
    const site = uniqueSite('report');
    const { dashboard, stop } = await startIngestDashboardOnNewDatabase({
      site,
      gateways: ['gw-1'],
      publicKey: gatewayKeys.publicKey,
      // No resend requests for the hole left on purpose: the test sends it itself.
      more: { signingKey: central.privateKey, gapGraceMs: 3_600_000 },
    });
    cleanups.push(stop);
    const client = await mqtt.connectAsync(mqttUrl(), { clientId: `gw-${site}`, clean: true });
    cleanups.push(() => client.endAsync());
    const requests: Array<{ id: string; data: { salt: string } }> = [];
    let requested = () => {};
    client.on('message', (_topic, payload) => {
      const command = JSON.parse(payload.toString());
      if (command.kind !== 'alarms.report') return;
      requests.push(command);
      requested();
    });
    await client.subscribeAsync(topics.commands(site, 'gw-1'), { qos: 1 });
    const request = async () => {
      while (requests.length === 0) await new Promise<void>((resolve) => (requested = resolve));
      return requests[0] as { id: string; data: { salt: string } };
    };
    /** Publishes one signed event and waits until the dashboard has stored it. */
    const publish = async (seq: number, kind: string, data: object) => {
      const event = signedEvent({ site, gateway: 'gw-1', seq, kind, data }, gatewayKeys.privateKey);
      const outcome = nextFrom(
        dashboard.ingest.outcomes,
        (o) => o.status !== 'stored' || o.event.id === event.id,
      );
      await client.publishAsync(topics.events(site, 'gw-1'), JSON.stringify(event), { qos: 1 });
      expect(await outcome).toMatchObject({ status: 'stored' });
      return event;
    };
    const raise = (seq: number, key: string) =>
      publish(seq, 'alarm.raised', { alarm: 'device-fault', key, severity: 'warning' });
    const rows = () => alarmRows(dashboard, site, 'gw-1');
    return { site, dashboard, request, publish, raise, rows };
  }

  it('opens no alarm for a raising numbered below a report that did not list it, and ends none with a late clearing', async () => {
    const { request, publish, raise, rows } = await rig();
    await raise(1, 'device-fault:ended');
    await raise(2, 'device-fault:held');
    // 3 and 4 are held back: they come after the report.
    await publish(5, 'gateway.online', { version: '1.0.0', doors: ['main'] });
    const { id, data } = await request();
    await publish(6, 'alarm.conditions', {
      request: id,
      held: 2,
      conditions: [
        { alarm: 'device-fault', digest: conditionDigest(data.salt, 'device-fault:held') },
        { alarm: 'device-fault', digest: conditionDigest(data.salt, 'device-fault:late-held') },
      ],
    });
    expect(await rows()).toEqual([
      expect.objectContaining({ key: 'device-fault:ended', cleared: true }),
      expect.objectContaining({ key: 'device-fault:held', cleared: false }),
    ]);

    // Late: a condition that ended before the report opens nothing; one the report lists opens.
    await raise(3, 'device-fault:late-ended');
    await raise(4, 'device-fault:late-held');
    const keys = (await rows()).map((r) => [r.key, r.cleared]);
    expect(keys).toEqual([
      ['device-fault:ended', true],
      ['device-fault:held', false],
      ['device-fault:late-held', false],
    ]);

    // Raised again after the report: a new alarm. A clearing that was numbered before it, arriving
    // late, ends the earlier raising, never this one.
    await raise(8, 'device-fault:ended');
    await publish(7, 'alarm.cleared', { alarm: 'device-fault', key: 'device-fault:ended' });
    expect((await rows()).filter((r) => r.key === 'device-fault:ended').map((r) => r.cleared)).toEqual([
      true,
      false,
    ]);
  });

  it('closes nothing on a report that could not list every condition, or that nobody asked for', async () => {
    const { request, publish, raise, rows } = await rig();
    await raise(1, 'device-fault:a');
    await publish(2, 'gateway.online', { version: '1.0.0', doors: ['main'] });
    const { id } = await request();
    await publish(3, 'alarm.conditions', { request: id, held: 501, conditions: [] });
    await publish(4, 'alarm.conditions', {
      request: '01a21a20-5c3e-7000-8f4b-2b1d0c9e7a11',
      held: 0,
      conditions: [],
    });
    expect((await rows()).map((r) => [r.key, r.cleared])).toEqual([['device-fault:a', false]]);
  });
});
