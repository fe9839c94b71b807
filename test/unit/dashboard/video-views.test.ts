import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuditLog } from '../../../src/dashboard/audit/audit-log.js';
import type { FetchedFootage, FootageClientOptions } from '../../../src/dashboard/video/footage-client.js';
import { VideoService } from '../../../src/dashboard/video/video-service.js';
import { type Clock, systemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

/** Decrypted footage on the dashboard lives as long as its view is served, and no longer. */
describe('the files of footage views', () => {
  const previous = process.env.TMPDIR;
  let temp: string;
  let nowMs: number;
  const clock: Clock = { now: () => nowMs, setTimeout: systemClock.setTimeout };
  let service: VideoService;

  beforeEach(async () => {
    temp = mkdtempSync(join(tmpdir(), 'idg-views-test-'));
    process.env.TMPDIR = temp;
    nowMs = Date.parse('2026-03-01T10:00:00Z');
    let fetched = 0;
    service = new VideoService({
      client: { url: 'mqtt://unused', clientId: 'unused', signingKey: undefined, registry: {} as never },
      pool: {} as Pool,
      audit: { record: async () => undefined } as unknown as AuditLog,
      clock,
      log: silentLogger,
      viewTtlMs: 60_000,
      // A gateway that answers each request with a new decrypted file in the service's folder.
      channel: (options: FootageClientOptions) => ({
        start: async () => undefined,
        stop: async () => undefined,
        fetch: async (): Promise<FetchedFootage> => {
          const path = join(options.dir, `${++fetched}.mp4`);
          writeFileSync(path, 'plaintext footage');
          return { path, bytes: 17, contentType: 'video/mp4', sha256: 'x' };
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

  const from = Date.parse('2026-03-01T09:50:00Z');
  const watch = () => service.footage('staff:ann', 'site-a', 'gw-1', 'cam-1', from, from + 60_000);

  it('serves a view again from the same file while it lasts', async () => {
    const first = await watch();
    nowMs += 30_000;
    expect((await watch()).path).toBe(first.path);
  });

  it('deletes the file of an expired view that a new view of the same footage replaces', async () => {
    const first = await watch();
    nowMs += 61_000;
    const second = await watch();
    expect(second.path).not.toBe(first.path);
    await vi.waitFor(() => expect(existsSync(first.path)).toBe(false));
    expect(existsSync(second.path)).toBe(true);
  });

  it('deletes its folder, every view with it, at stop', async () => {
    const first = await watch();
    await service.stop();
    expect(existsSync(first.path)).toBe(false);
    expect(readdirSync(temp)).toEqual([]);
  });
});

describe('a view whose audit cannot be written', () => {
  const previous = process.env.TMPDIR;
  let temp: string;
  let service: VideoService;
  let fetched: string[];
  let auditWorks: boolean;
  let release: () => void;

  beforeEach(async () => {
    temp = mkdtempSync(join(tmpdir(), 'idg-views-test-'));
    process.env.TMPDIR = temp;
    fetched = [];
    auditWorks = false;
    let gate = Promise.resolve();
    release = () => undefined;
    service = new VideoService({
      client: { url: 'mqtt://unused', clientId: 'unused', signingKey: undefined, registry: {} as never },
      pool: {} as Pool,
      audit: {
        record: async () => {
          if (!auditWorks) throw new Error('connection terminated');
        },
      } as unknown as AuditLog,
      clock: systemClock,
      log: silentLogger,
      channel: (options: FootageClientOptions) => ({
        start: async () => undefined,
        stop: async () => undefined,
        fetch: async (): Promise<FetchedFootage> => {
          await gate;
          const path = join(options.dir, `${fetched.length + 1}.mp4`);
          fetched.push(path);
          writeFileSync(path, 'plaintext footage');
          return { path, bytes: 17, contentType: 'video/mp4', sha256: 'x' };
        },
      }),
    });
    await service.start();
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
  });
  afterEach(async () => {
    await service.stop();
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(temp, { recursive: true, force: true });
  });

  const from = Date.parse('2026-03-01T09:50:00Z');
  const watch = () => service.footage('staff:ann', 'site-a', 'gw-1', 'cam-1', from, from + 60_000);

  it('serves nobody, not even a request that joined the view meanwhile, and deletes the file', async () => {
    // The player's first request and its range request, while the footage is still coming.
    const first = watch();
    const second = watch();
    release();
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(fetched).toHaveLength(1);
    expect(existsSync(fetched[0] as string)).toBe(false);
  });

  it('is fetched again, and audited, at the next request', async () => {
    release();
    await expect(watch()).rejects.toThrow(/connection terminated/);
    auditWorks = true;
    const served = await watch();
    expect(fetched).toHaveLength(2);
    expect(served.path).toBe(fetched[1]);
    expect(existsSync(served.path)).toBe(true);
  });
});
