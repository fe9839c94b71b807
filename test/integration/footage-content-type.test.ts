import { createHash, generateKeyPairSync } from 'node:crypto';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FootageRequest,
  gatewayTransferKey,
  sealFootageChunk,
  signFootageHead,
} from '../../src/protocol/footage-transfer.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { mqttUrl } from '../helpers/services.js';
import type { StaffClient } from '../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/**
 * The type of footage is the dashboard's to set, not the gateway's: a compromised gateway that
 * declared its answer as text/html would otherwise have it served as a page of the dashboard's
 * own origin to a signed-in security officer (and as text/javascript, pass `script-src 'self'`).
 */
describe('the content type of footage', () => {
  let system: TestSystem;
  let rogue: MqttClient;
  let security: StaffClient;
  const keys = generateSigningKeyPair();
  const answer = { declared: 'video/mp4', body: Buffer.from('not really an mp4') };

  beforeAll(async () => {
    system = await startTestSystem();
    await system.dashboard.trustGateway(system.site, 'gw-rogue', exportPublicKey(keys.publicKey));
    rogue = await connectAsync(mqttUrl(), { clientId: `rogue-${system.site}` });
    // A trusted gateway that answers every footage request with `answer`, declared as it says.
    rogue.on('message', (_topic, payload) => {
      const request = JSON.parse(payload.toString()) as FootageRequest;
      const { declared, body } = answer;
      const key = gatewayTransferKey(
        request.epk,
        request.id,
        generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
      );
      const head = signFootageHead(
        {
          request: request.id,
          site: system.site,
          gateway: 'gw-rogue',
          status: 'ok',
          contentType: declared,
          bytes: body.length,
          chunkSize: 256 * 1024,
          sha256: createHash('sha256').update(body).digest('hex'),
          epk: key.epk,
        },
        keys.privateKey,
      );
      const topic = topics.footage(system.site, 'gw-rogue', request.id);
      void rogue
        .publishAsync(topic, head, { qos: 1 })
        .then(() => rogue.publishAsync(topic, sealFootageChunk(key, 0, body, true), { qos: 1 }));
    });
    await rogue.subscribeAsync(topics.footageRequests(system.site, 'gw-rogue'), { qos: 1 });
    security = await system.staff('security');
  }, 120_000);

  afterAll(async () => {
    await rogue?.endAsync();
    await system?.stop();
  });

  const footageUrl = (minute: number) => {
    const from = `2026-03-01T08:${String(minute).padStart(2, '0')}:00.000Z`;
    const to = `2026-03-01T08:${String(minute + 1).padStart(2, '0')}:00.000Z`;
    return {
      url: `/api/v1/cameras/${system.site}/gw-rogue/cam-1/footage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      from,
    };
  };

  it('refuses footage the gateway declares as a page, and audits the refusal', async () => {
    answer.declared = 'text/html; charset=utf-8';
    answer.body = Buffer.from('<!doctype html><script src="/api/v1/evil.js"></script><h1>owned</h1>');
    const { url, from } = footageUrl(0);

    const reply = await security.request('GET', url);

    expect(reply.statusCode).toBe(502);
    expect(String(reply.headers['content-type'])).toMatch(/^application\/json/);
    expect(reply.json()).toMatchObject({
      code: 'IDG_VIDEO_WRONG_TYPE',
      message: expect.stringContaining('"text/html; charset=utf-8", not video/mp4'),
    });
    expect(reply.body).not.toContain('<script');
    const [row] = await system.dashboard.audit.recent({
      action: 'video.view',
      actor: `staff:${security.login}`,
    });
    expect(row).toMatchObject({
      target: `${system.site}/gw-rogue/cam-1`,
      details: { kind: 'range', from, result: 'wrong-type' },
    });
  });

  it('serves footage declared as video/mp4 with the type the dashboard sets, not sniffed, inline', async () => {
    answer.declared = 'VIDEO/MP4; codecs="avc1.640028"';
    answer.body = Buffer.from('not really an mp4');

    const reply = await security.request('GET', footageUrl(2).url);

    expect(reply.statusCode).toBe(200);
    expect(reply.headers['content-type']).toBe('video/mp4');
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    expect(reply.headers['content-disposition']).toBe('inline; filename="cam-1-20260301T080200000Z.mp4"');
    expect(reply.rawPayload).toEqual(answer.body);
  });
});
