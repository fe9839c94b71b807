import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FootageClient, FootageError } from '../../src/dashboard/video/footage-client.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import {
  type FootageRequest,
  gatewayTransferKey,
  sealFootageChunk,
  signFootageHead,
} from '../../src/protocol/footage-transfer.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { FakeMqttBroker } from '../helpers/fake-mqtt-broker.js';
import { mqttUrl, uniqueSite } from '../helpers/services.js';
import { until } from '../helpers/wait.js';

/**
 * The dashboard's end of the footage channel when the broker or the gateway misbehaves: every
 * failure reaches the caller (503 when the broker does not take the request, 504 when the
 * gateway stays silent) and nothing rejects later where nobody listens, which would end the
 * dashboard process; and no decrypted footage stays behind.
 */
const gatewayKeys = generateSigningKeyPair();
const what = {
  kind: 'range',
  camera: 'cam-1',
  from: '2026-03-01T08:00:00.000Z',
  to: '2026-03-01T08:01:00.000Z',
} as const;

describe('the footage channel when the broker does not acknowledge', () => {
  let dir: string;
  let broker: FakeMqttBroker;
  let client: FootageClient;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idg-footage-faults-'));
    broker = await FakeMqttBroker.start(); // answers CONNECT and SUBSCRIBE, never a PUBLISH
    client = new FootageClient({
      url: broker.url,
      clientId: 'idg-footage-faults',
      signingKey: generateSigningKeyPair().privateKey,
      registry: { get: () => ({ signingKey: gatewayKeys.publicKey }) } as never,
      clock: systemClock,
      log: silentLogger,
      dir,
      idleTimeoutMs: 300,
    });
    await client.start();
  });
  afterEach(async () => {
    await client.stop();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const requestOn = async (n: number): Promise<FootageRequest> => {
    const connection = await broker.connection(n);
    const packet = (await connection.next(
      (p) => p.cmd === 'publish' && p.topic === topics.footageRequests('site-a', 'gw-1'),
    )) as IPublishPacket;
    return JSON.parse(packet.payload.toString()) as FootageRequest;
  };

  it('rejects the request with 503 when the broker does not acknowledge it in time', async () => {
    const sent = requestOn(1);
    const fetched = client.fetch('site-a', 'gw-1', what);
    await sent;
    const error = await fetched.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FootageError);
    expect(error).toMatchObject({
      failure: 'unavailable',
      statusCode: 503,
      code: 'IDG_VIDEO_UNAVAILABLE',
      message: expect.stringMatching(/broker did not acknowledge/),
    });
  });

  it('takes back the request it gave up on: a reconnect does not deliver it late', async () => {
    const first = requestOn(1);
    await expect(client.fetch('site-a', 'gw-1', what)).rejects.toMatchObject({ failure: 'unavailable' });
    const given = await first;
    (await broker.connection(1)).destroy();
    await until(() => broker.all.length === 2 && client.connected, 'the client to connect again');
    // Connected again: MQTT.js sends what it still holds first, then the new request.
    const next = requestOn(2);
    const again = client.fetch('site-a', 'gw-1', what).catch((e: unknown) => e);
    const delivered = await next;
    expect(delivered.id).not.toBe(given.id);
    expect(await again).toMatchObject({ failure: 'unavailable' });
  });

  it('answers 503 while the broker is away', async () => {
    await broker.connection(1);
    await broker.close();
    await expect(client.fetch('site-a', 'gw-1', what)).rejects.toMatchObject({
      failure: 'unavailable',
      statusCode: 503,
    });
  });
});

describe('a transfer that fails before its file is open', () => {
  let dir: string;
  let client: FootageClient;
  let gateway: MqttClient;
  const site = uniqueSite('footage-faults');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idg-footage-faults-'));
    client = new FootageClient({
      url: mqttUrl(),
      clientId: `idg-footage-client-${site}`,
      signingKey: generateSigningKeyPair().privateKey,
      registry: { get: () => ({ signingKey: gatewayKeys.publicKey }) } as never,
      clock: systemClock,
      log: silentLogger,
      dir,
      idleTimeoutMs: 10_000,
    });
    gateway = await connectAsync(mqttUrl(), { clientId: `idg-footage-gateway-${site}` });
    await client.start();
  });
  afterEach(async () => {
    await client.stop();
    await gateway.endAsync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes nothing into the file, closes it and deletes it once the open completes', async () => {
    const requested = new Promise<FootageRequest>((resolve) =>
      gateway.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()) as FootageRequest)),
    );
    await gateway.subscribeAsync(topics.footageRequests(site, 'gw-1'), { qos: 1 });
    const fetched = client.fetch(site, 'gw-1', what).catch((e: unknown) => e);
    const request = await requested;
    // The file's open is held until someone reads: a named pipe where the answer's file goes.
    const path = join(dir, `${request.id}.part`);
    expect(spawnSync('mkfifo', ['-m', '600', path]).status).toBe(0);

    const chunkSize = 64 * 1024;
    const key = gatewayTransferKey(
      request.epk,
      request.id,
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
    );
    const head = signFootageHead(
      {
        request: request.id,
        site,
        gateway: 'gw-1',
        status: 'ok',
        contentType: 'video/mp4',
        bytes: 3 * chunkSize,
        chunkSize,
        sha256: '0'.repeat(64),
        epk: key.epk,
      },
      gatewayKeys.privateKey,
    );
    const damaged = sealFootageChunk(key, 1, Buffer.alloc(chunkSize), false);
    damaged[100] = (damaged[100] ?? 0) ^ 1;
    const answer = topics.footage(site, 'gw-1', request.id);
    for (const message of [head, sealFootageChunk(key, 0, Buffer.alloc(chunkSize, 0x41), false), damaged])
      await gateway.publishAsync(answer, message, { qos: 1 });
    expect(await fetched).toMatchObject({ failure: 'integrity' });

    // Now the open completes: the plaintext of chunk 0 must not come out, and the file must close.
    const read: Buffer[] = [];
    await new Promise<void>((resolve, reject) =>
      createReadStream(path)
        .on('data', (piece) => read.push(piece as Buffer))
        .on('end', resolve)
        .on('error', reject),
    );
    expect(Buffer.concat(read).length).toBe(0);
    await client.stop(); // waits for the failed transfer's file to be deleted
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
