import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/dashboard/audit/audit-log.js';
import { checkExportQuery, exportSql } from '../../src/dashboard/audit/export-query.js';
import type { FetchedFootage, FootageClientOptions } from '../../src/dashboard/video/footage-client.js';
import { VideoService } from '../../src/dashboard/video/video-service.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/**
 * Only the gateway that recorded a door event links footage to it. Any gateway can name any
 * event id in a `video.footage-linked`, and chooses that event's time itself: a link from another
 * site or gateway is neither served as the event's clip nor exported beside it.
 */
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const clipOf = (camera: string, file: string) => ({
  camera,
  from: '2026-03-15T10:59:50.000Z',
  to: '2026-03-15T11:00:20.000Z',
  clip: {
    id: `${camera}/2026-03-15/${file}`,
    sha256: sha(file),
    bytes: file.length,
    keyId: `${camera}/2026-03-15`,
    mime: 'video/mp4',
  },
});

describe('footage links of another gateway', () => {
  let rig: RetentionRig;
  let temp: string;
  let service: VideoService;
  const asked: string[] = [];
  const raised: Array<{ alarm: string; key: string; severity: string; gateway?: string | null }> = [];
  const previous = process.env.TMPDIR;

  beforeAll(async () => {
    rig = await startRetentionRig();
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
  });
  beforeEach(async () => {
    await rig.reset();
    asked.length = 0;
    raised.length = 0;
    temp = mkdtempSync(join(tmpdir(), 'idg-footage-links-'));
    process.env.TMPDIR = temp;
    service = new VideoService({
      client: { url: 'mqtt://unused', clientId: 'unused', signingKey: undefined, registry: {} as never },
      pool: rig.pool as unknown as Pool,
      audit: { record: async () => undefined } as unknown as AuditLog,
      alarms: {
        raiseCentralUnlessOpen: async (alarm) => {
          raised.push(alarm);
          return [];
        },
      },
      clock: systemClock,
      log: silentLogger,
      // Each gateway answers with the file its link names.
      channel: (options: FootageClientOptions) => ({
        start: async () => undefined,
        stop: async () => undefined,
        fetch: async (site, gateway, what): Promise<FetchedFootage> => {
          asked.push(`${site}/${gateway}`);
          const file = what.kind === 'file' ? (what.file.split('/').pop() as string) : 'range';
          const path = join(options.dir, file);
          writeFileSync(path, file);
          return { path, bytes: file.length, contentType: 'video/mp4', sha256: sha(file) };
        },
      }),
    });
    await service.start();
  });
  afterEach(async () => {
    await service.stop();
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(temp, { recursive: true, force: true });
  });

  it("serves the clip of the event's own gateway, though another gateway's link is dated earlier", async () => {
    const forced = await rig.event('berlin', HOUR, { kind: 'door.forced' });
    await rig.event('berlin', HOUR - 60_000, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...clipOf('cam-b', 'evt-own-clip.mp4.idgv') },
    });
    await rig.event('hamburg', 2 * HOUR, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...clipOf('cam-h', 'evt-planted-clip.mp4.idgv') },
    });
    const footage = await service.eventFootage('staff:ann', forced.id, 'clip');
    expect(footage.sha256).toBe(sha('evt-own-clip.mp4.idgv'));
    expect(asked).toEqual(['berlin/gw-berlin']);
    // The gateway that named another's event is reported: misconfigured or compromised.
    expect(raised).toMatchObject([
      { alarm: 'footage-link-foreign', key: 'footage-link-foreign:hamburg/gw-hamburg', severity: 'critical' },
    ]);
  });

  it('refuses a snapshot the gateway declares as anything but a JPEG', async () => {
    const forced = await rig.event('berlin', HOUR, { kind: 'door.forced' });
    const { clip, ...link } = clipOf('cam-b', 'evt-own-snapshot.jpg.idgv');
    await rig.event('berlin', HOUR - 60_000, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...link, snapshot: { ...clip, mime: 'image/jpeg' } },
    });
    // The stand-in gateway declares every answer as video/mp4.
    await expect(service.eventFootage('staff:ann', forced.id, 'snapshot')).rejects.toMatchObject({
      code: 'IDG_VIDEO_WRONG_TYPE',
      statusCode: 502,
      message: 'the gateway declared the snapshot as "video/mp4", not image/jpeg',
    });
  });

  it('answers 404 when only another gateway linked footage to the event', async () => {
    const forced = await rig.event('berlin', HOUR, { kind: 'door.forced' });
    await rig.event('hamburg', HOUR - 60_000, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...clipOf('cam-h', 'evt-planted-clip.mp4.idgv') },
    });
    await expect(service.eventFootage('staff:ann', forced.id, 'clip')).rejects.toMatchObject({
      failure: 'not-found',
      statusCode: 404,
    });
    expect(asked).toEqual([]);
  });

  it("exports beside an event only its own gateway's clip", async () => {
    const forced = await rig.event('berlin', HOUR, { kind: 'door.forced' });
    const denied = await rig.event('berlin', HOUR - 1000, { kind: 'access.denied' });
    await rig.event('hamburg', 2 * HOUR, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...clipOf('cam-h', 'evt-planted-clip.mp4.idgv') },
    });
    await rig.event('berlin', HOUR - 60_000, {
      kind: 'video.footage-linked',
      data: { event: forced.id, ...clipOf('cam-b', 'evt-own-clip.mp4.idgv') },
    });
    await rig.event('hamburg', 2 * HOUR, {
      kind: 'video.footage-linked',
      data: { event: denied.id, ...clipOf('cam-h', 'evt-other-clip.mp4.idgv') },
    });
    const query = checkExportQuery({
      from: new Date(NOW - 3 * HOUR).toISOString(),
      to: new Date(NOW).toISOString(),
      site: 'berlin',
    });
    const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
    const rows = (await rig.pool.query<{ event_id: string; clip: string | null }>(exportSql(query, quote)))
      .rows;
    expect(rows.map((row) => [row.event_id, row.clip])).toEqual([
      [forced.id, 'cam-b/cam-b/2026-03-15/evt-own-clip.mp4.idgv'],
      [denied.id, null],
    ]);
  });
});
