import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CentralMessenger } from '../../src/dashboard/central-messenger.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { until } from '../helpers/wait.js';

/**
 * A command whose publish the broker does not acknowledge (it is away, or stuck) ends with its
 * timeout like an unanswered one, instead of keeping the operator's request waiting until the
 * broker is back; and it is taken back, so a reconnect does not deliver it after its window,
 * where the gateway would refuse it with a critical alarm.
 */
describe('a command the broker does not acknowledge', () => {
  let broker: FakeMqttBroker;
  let messenger: CentralMessenger;
  const unlock = { kind: 'door.unlock', data: { door: 'main', durationMs: 5_000 } } as const;

  beforeEach(async () => {
    broker = await FakeMqttBroker.start(); // answers CONNECT and SUBSCRIBE, never a PUBLISH
    messenger = new CentralMessenger({
      url: broker.url,
      clientId: 'idg-unacknowledged',
      signingKey: generateSigningKeyPair().privateKey,
      registry: { all: () => [], ofSite: () => [] } as never,
      people: {} as never,
      pool: {} as never,
      clock: systemClock,
      log: silentLogger,
      stopWaitMs: 100,
    });
    await messenger.start();
  });
  afterEach(async () => {
    await messenger.stop();
    await broker.close();
  });

  const commandOn = async (n: number): Promise<{ id: string }> => {
    const connection = await broker.connection(n);
    const packet = (await connection.next(
      (p) => p.cmd === 'publish' && p.topic === topics.commands('site-a', 'gw-1'),
    )) as IPublishPacket;
    return JSON.parse(packet.payload.toString()) as { id: string };
  };

  it('ends with a timeout that names the broker', async () => {
    const sent = commandOn(1);
    const result = await messenger.sendCommand('site-a', 'gw-1', unlock, 300);
    expect((await sent).id).toBe(result.command);
    expect(result).toMatchObject({
      status: 'timeout',
      reason: 'the broker did not acknowledge it within 300 ms',
    });
  });

  it('is not delivered after a reconnect', async () => {
    const first = commandOn(1);
    const given = await messenger.sendCommand('site-a', 'gw-1', unlock, 300);
    expect((await first).id).toBe(given.command);
    (await broker.connection(1)).destroy();
    await until(() => broker.all.length === 2 && messenger.connected, 'the messenger to connect again');
    // Connected again: MQTT.js sends what it still holds first, then the new command.
    const next = commandOn(2);
    const later = messenger.sendCommand('site-a', 'gw-1', unlock, 300);
    const delivered = await next;
    expect(delivered.id).toBe((await later).command);
  });

  it('fails a workstation lock publish after its timeout and takes it back, so a reconnect does not send it late', async () => {
    const topic = 'identgate/site-a/workstations/ws-1.ident/commands';
    const published = (await broker.connection(1)).next((p) => p.cmd === 'publish' && p.topic === topic);
    await expect(messenger.publishSigned(topic, '{"lock":1}', 200)).rejects.toMatchObject({
      code: 'IDG_MQTT_TIMEOUT',
    });
    expect(((await published) as IPublishPacket).payload.toString()).toBe('{"lock":1}');
    (await broker.connection(1)).destroy();
    await until(() => broker.all.length === 2 && messenger.connected, 'the messenger to connect again');
    const next = (await broker.connection(2)).next((p) => p.cmd === 'publish');
    const later = messenger.publishSigned(topic, '{"lock":2}', 200).catch(() => undefined);
    expect(((await next) as IPublishPacket).payload.toString()).toBe('{"lock":2}');
    await later;
  });
});
