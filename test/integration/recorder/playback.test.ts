import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSim } from '../../../src/cli/sim-command.js';
import { runTool } from '../../../src/gateway/recorder/ffmpeg-run.js';
import { SyntheticCamera } from '../../../src/gateway/recorder/synthetic-camera.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { exportEncryptionKey, generateEncryptionKeyPair } from '../../../src/protocol/ecies.js';
import type { Envelope } from '../../../src/protocol/envelope.js';
import { checkFootageHead, signFootageRequest } from '../../../src/protocol/footage-transfer.js';
import { generateSigningKeyPair, importPublicKey } from '../../../src/protocol/signing.js';
import { topics } from '../../../src/protocol/topics.js';
import { Uuidv7Generator } from '../../../src/protocol/uuidv7.js';
import { binaries, videoSettings } from '../../helpers/recorder-rig.js';
import { mqttUrl } from '../../helpers/services.js';
import type { StaffClient } from '../../helpers/staff.js';
import { startTestSystem, type TestSystem } from '../../helpers/system.js';

async function probe(path: string) {
  const out = await runTool(binaries.ffprobe, [
    '-v',
    'error',
    '-show_entries',
    'format=duration,format_name',
    '-of',
    'json',
    path,
  ]);
  return JSON.parse(out).format as { duration: string; format_name: string };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('playback: footage from the gateway in the browser, over the signed footage channel', () => {
  let system: TestSystem;
  let source: SyntheticCamera;
  let security: StaffClient;
  let auditor: StaffClient;
  let admin: StaffClient;
  let observer: MqttClient;
  const requests: Buffer[] = [];
  const forged = new Set<string>();
  const scratch = mkdtempSync(join(tmpdir(), 'idg-playback-'));
  let fromIso = '';
  let toIso = '';

  /** The next event the gateway records that matches. */
  function recorded(match: (e: Envelope) => boolean, timeoutMs = 30_000): Promise<Envelope> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error('timed out waiting for a gateway event'));
      }, timeoutMs);
      const off = system.gateway.bus.on('test', 'recorded', (event) => {
        if (!match(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  const footageUrl = (camera = 'cam-1', from = fromIso, to = toIso, gateway = 'gw-1') =>
    `/api/v1/cameras/${system.site}/${gateway}/${camera}/footage?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

  beforeAll(async () => {
    source = new SyntheticCamera({ ffmpeg: binaries.ffmpeg, log: silentLogger });
    await source.start();
    system = await startTestSystem({
      gatewayConfig: {
        video: videoSettings({
          cameras: [
            {
              id: 'cam-1',
              room: 'ident-1',
              url: source.url,
              transport: 'udp',
              segmentSeconds: 1,
              enabled: true,
            },
          ],
        }),
      },
    });
    // Watch the footage requests the dashboard sends (the test broker has no ACL), to replay one.
    observer = await connectAsync(mqttUrl(), { clientId: `idg-observer-${system.site}` });
    observer.on('message', (topic, payload) => {
      if (topic === topics.footageRequests(system.site, 'gw-1')) requests.push(payload);
    });
    await observer.subscribeAsync(topics.footageRequests(system.site, 'gw-1'), { qos: 1 });
    const segments: Array<{ start: string; end: string }> = [];
    await new Promise<void>((resolve) => {
      const off = system.gateway.bus.on('test', 'recorded', (event) => {
        if (event.kind !== 'video.segment') return;
        segments.push(event.data);
        if (segments.length === 4) {
          off();
          resolve();
        }
      });
    });
    fromIso = segments[0]?.start as string;
    toIso = segments[3]?.end as string;
    [security, auditor, admin] = await Promise.all([
      system.staff('security'),
      system.staff('auditor'),
      system.staff('admin'),
    ]);
  }, 120_000);

  afterAll(async () => {
    await observer?.endAsync();
    await system?.stop();
    await source?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('serves a time range to security staff as an MP4 with range requests, audited once per view', async () => {
    const first = await security.request('GET', footageUrl(), undefined, { range: 'bytes=0-99' });
    expect(first.statusCode, first.body).toBe(206);
    expect(first.headers['accept-ranges']).toBe('bytes');
    expect(first.headers['content-type']).toBe('video/mp4');
    expect(first.headers['cache-control']).toBe('no-store');
    const total = Number(/^bytes 0-99\/(\d+)$/.exec(String(first.headers['content-range']))?.[1]);
    expect(total).toBeGreaterThan(10_000);
    expect(first.rawPayload.length).toBe(100);

    const whole = await security.request('GET', footageUrl(), undefined, { range: 'bytes=0-' });
    expect(whole.statusCode).toBe(206);
    expect(whole.headers['content-range']).toBe(`bytes 0-${total - 1}/${total}`);
    expect(whole.rawPayload.length).toBe(total);
    expect(whole.rawPayload.subarray(0, 100)).toEqual(first.rawPayload);
    const middle = await security.request('GET', footageUrl(), undefined, { range: 'bytes=1000-1999' });
    expect(middle.statusCode).toBe(206);
    expect(middle.rawPayload).toEqual(whole.rawPayload.subarray(1000, 2000));

    const file = join(scratch, 'range.mp4');
    writeFileSync(file, whole.rawPayload);
    const format = await probe(file);
    expect(format.format_name).toContain('mp4');
    expect(Number(format.duration)).toBeGreaterThan(2);

    const views = (
      await system.dashboard.audit.recent({ action: 'video.view', actor: `staff:${security.login}` })
    ).filter((row) => row.details.kind === 'range');
    expect(views).toHaveLength(1);
    expect(views[0]).toMatchObject({
      target: `${system.site}/gw-1/cam-1`,
      details: { kind: 'range', from: fromIso, to: toIso, result: 'ok', bytes: total },
    });
  });

  it('answers 416 for a range beyond the footage', async () => {
    const response = await security.request('GET', footageUrl(), undefined, { range: 'bytes=999999999-' });
    expect(response.statusCode).toBe(416);
    expect(String(response.headers['content-range'])).toMatch(/^bytes \*\/\d+$/);
  });

  it('lets auditors review footage and refuses administrators and anyone signed out', async () => {
    const reviewed = await auditor.request('GET', footageUrl());
    expect(reviewed.statusCode).toBe(200);
    expect(reviewed.headers['accept-ranges']).toBe('bytes');
    expect(reviewed.rawPayload.length).toBe(Number(reviewed.headers['content-length']));
    const refused = await admin.request('GET', footageUrl());
    expect(refused.statusCode).toBe(403);
    const anonymous = await system.dashboard.http.inject({ method: 'GET', url: footageUrl() });
    expect(anonymous.statusCode).toBe(401);
  });

  it("audits an administrator's refused attempt, once however often it is repeated", async () => {
    for (let i = 0; i < 3; i++) expect((await admin.request('GET', footageUrl())).statusCode).toBe(403);
    const clip = await admin.request('GET', `/api/v1/events/${randomUUID()}/clip`);
    expect(clip.statusCode).toBe(403);
    const audited = await system.dashboard.audit.recent({
      action: 'video.view',
      actor: `staff:${admin.login}`,
    });
    expect(audited.map((row) => row.details.kind).sort()).toEqual(['clip', 'range']);
    expect(audited.find((row) => row.details.kind === 'range')).toMatchObject({
      target: `${system.site}/gw-1/cam-1`,
      details: { from: fromIso, to: toIso, result: 'forbidden', reason: 'IDG_AUTH_FORBIDDEN' },
    });
  });

  it('answers 404 for an unknown camera or gateway, and audits the attempt', async () => {
    const camera = await security.request('GET', footageUrl('cam-nope'));
    expect(camera.statusCode).toBe(404);
    expect(camera.json()).toMatchObject({ code: 'IDG_VIDEO_NOT_FOUND' });
    expect(camera.json().message).toMatch(/cam-nope/);
    const gateway = await security.request('GET', footageUrl('cam-1', fromIso, toIso, 'gw-nope'));
    expect(gateway.statusCode).toBe(404);
    const [row] = await system.dashboard.audit.recent({
      action: 'video.view',
      actor: `staff:${security.login}`,
    });
    expect(row).toMatchObject({ target: `${system.site}/gw-nope/cam-1`, details: { result: 'not-found' } });
  });

  it('answers 404 for a range outside retention (no footage is kept for it)', async () => {
    const from = new Date(Date.now() - 90 * 86_400_000).toISOString();
    const to = new Date(Date.parse(from) + 60_000).toISOString();
    const response = await security.request('GET', footageUrl('cam-1', from, to));
    expect(response.statusCode).toBe(404);
    expect(response.json().message).toMatch(/no footage of cam-1/);
  });

  it('refuses a backwards or overlong range before asking the gateway', async () => {
    const backwards = await security.request('GET', footageUrl('cam-1', toIso, fromIso));
    expect(backwards.statusCode).toBe(400);
    const to = new Date(Date.parse(fromIso) + 31 * 60_000).toISOString();
    const long = await security.request('GET', footageUrl('cam-1', fromIso, to));
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ code: 'IDG_VIDEO_BAD_RANGE' });
  });

  it('serves the clip and snapshot of a forced door, checked against the SHA-256 the event named', async () => {
    const forced = recorded((e) => e.kind === 'door.forced');
    const linked = recorded((e) => e.kind === 'video.footage-linked', 60_000);
    await runSim({ action: ['door', 'open'], door: 'main', socket: system.gateway.simSocketPath });
    const event = await forced;
    const link = await linked;
    await runSim({ action: ['door', 'close'], door: 'main', socket: system.gateway.simSocketPath });
    if (link.kind !== 'video.footage-linked') throw new Error('not a link');
    expect(link.data.event).toBe(event.id);
    expect(await system.dashboard.waitForSequence(system.site, 'gw-1', link.seq, 15_000)).toBe(true);

    const clip = await security.request('GET', `/api/v1/events/${event.id}/clip`);
    expect(clip.statusCode, clip.body).toBe(200);
    expect(clip.headers['content-type']).toBe('video/mp4');
    expect(sha256(clip.rawPayload)).toBe(link.data.clip?.sha256);
    const file = join(scratch, 'clip.mp4');
    writeFileSync(file, clip.rawPayload);
    expect((await probe(file)).format_name).toContain('mp4');
    const tail = await security.request('GET', `/api/v1/events/${event.id}/clip`, undefined, {
      range: 'bytes=-500',
    });
    expect(tail.statusCode).toBe(206);
    expect(tail.rawPayload).toEqual(clip.rawPayload.subarray(clip.rawPayload.length - 500));

    const snapshot = await auditor.request('GET', `/api/v1/events/${event.id}/snapshot`);
    expect(snapshot.statusCode).toBe(200);
    expect(snapshot.headers['content-type']).toBe('image/jpeg');
    expect(snapshot.rawPayload.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(sha256(snapshot.rawPayload)).toBe(link.data.snapshot?.sha256);

    const [row] = await system.dashboard.audit.recent({
      action: 'video.view',
      actor: `staff:${auditor.login}`,
    });
    expect(row).toMatchObject({
      target: `${system.site}/gw-1/cam-1`,
      details: { kind: 'snapshot', event: event.id, result: 'ok' },
    });
    const unknown = await security.request('GET', `/api/v1/events/${randomUUID()}/clip`);
    expect(unknown.statusCode).toBe(404);
  }, 90_000);

  it('links a denied access to a snapshot and a clip by id and SHA-256, which the dashboard serves', async () => {
    const denied = recorded((e) => e.kind === 'access.denied');
    const linked = recorded((e) => e.kind === 'video.footage-linked', 60_000);
    await runSim({ action: ['badge', '0009999'], door: 'main', socket: system.gateway.simSocketPath });
    const event = await denied;
    const link = await linked;
    if (link.kind !== 'video.footage-linked') throw new Error('not a link');
    expect(link.data).toMatchObject({
      event: event.id,
      camera: 'cam-1',
      clip: {
        id: expect.stringMatching(/^cam-1\/\d{4}-\d{2}-\d{2}\/evt-.+-clip\.mp4\.idgv$/),
        mime: 'video/mp4',
      },
      snapshot: { id: expect.stringMatching(/-snapshot\.jpg\.idgv$/), mime: 'image/jpeg' },
    });
    expect(link.data.clip?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await system.dashboard.waitForSequence(system.site, 'gw-1', link.seq, 15_000)).toBe(true);
    const snapshot = await security.request('GET', `/api/v1/events/${event.id}/snapshot`);
    expect(snapshot.statusCode).toBe(200);
    expect(sha256(snapshot.rawPayload)).toBe(link.data.snapshot?.sha256);
  }, 90_000);

  it('links a door held open and a duress alarm to footage as well', async () => {
    for (const body of [
      { kind: 'door.held-open', data: { door: 'main', openMs: 45_000 } },
      {
        kind: 'alarm.raised',
        data: {
          alarm: 'duress',
          key: 'duress:main',
          severity: 'critical',
          silent: true,
          door: 'main',
          room: 'ident-1',
        },
      },
    ] as const) {
      const linked = recorded((e) => e.kind === 'video.footage-linked', 60_000);
      const event = system.gateway.record(body as Parameters<typeof system.gateway.record>[0]);
      const link = await linked;
      if (link.kind !== 'video.footage-linked') throw new Error('not a link');
      expect(link.data, body.kind).toMatchObject({ event: event.id, camera: 'cam-1' });
      expect(link.data.clip?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  }, 120_000);

  it('refuses a forged footage request with a signed "rejected" and an alarm, and sends no footage', async () => {
    const forger = generateSigningKeyPair();
    const id = new Uuidv7Generator(() => Date.now()).next();
    forged.add(id);
    const request = signFootageRequest(
      {
        id,
        site: system.site,
        gateway: 'gw-1',
        what: { kind: 'range', camera: 'cam-1', from: fromIso, to: toIso },
        epk: exportEncryptionKey(generateEncryptionKeyPair().publicKey),
      },
      Date.now(),
      60_000,
      forger.privateKey,
    );
    const messages: Buffer[] = [];
    const answered = new Promise<Buffer>((resolve) =>
      observer.on('message', (topic, payload) => {
        if (topic !== topics.footage(system.site, 'gw-1', id)) return;
        messages.push(payload);
        resolve(payload);
      }),
    );
    await observer.subscribeAsync(topics.footage(system.site, 'gw-1', id), { qos: 1 });
    const alarm = recorded((e) => e.kind === 'alarm.raised' && /bad-signature/.test(e.data.detail ?? ''));
    await observer.publishAsync(topics.footageRequests(system.site, 'gw-1'), JSON.stringify(request), {
      qos: 1,
    });
    const head = checkFootageHead(await answered, importPublicKey(system.gateway.publicKey));
    expect(head).toMatchObject({
      ok: true,
      head: { request: id, status: 'rejected', reason: 'bad-signature' },
    });
    if (head.ok) expect(head.head.epk).toBeUndefined();
    expect((await alarm).data).toMatchObject({ alarm: 'command-rejected', severity: 'critical' });
    await system.gateway.drained();
    expect(messages).toHaveLength(1);
  });

  it('refuses a replayed request of the dashboard: no second answer, an alarm', async () => {
    const original = requests.filter((r) => !forged.has(JSON.parse(r.toString()).id)).at(-1);
    if (!original) throw new Error('no request of the dashboard was observed');
    const alarm = recorded(
      (e) => e.kind === 'alarm.raised' && /replayed footage request/.test(e.data.detail ?? ''),
    );
    await observer.publishAsync(topics.footageRequests(system.site, 'gw-1'), original, { qos: 1 });
    expect((await alarm).data).toMatchObject({ alarm: 'command-rejected' });
  });

  it('refuses an unsigned request with an alarm', async () => {
    const alarm = recorded(
      (e) => e.kind === 'alarm.raised' && /footage request bad-request/.test(e.data.detail ?? ''),
    );
    await observer.publishAsync(
      topics.footageRequests(system.site, 'gw-1'),
      JSON.stringify({
        v: 1,
        id: new Uuidv7Generator(() => Date.now()).next(),
        site: system.site,
        gateway: 'gw-1',
      }),
      { qos: 1 },
    );
    expect((await alarm).data).toMatchObject({ alarm: 'command-rejected' });
  });
});
