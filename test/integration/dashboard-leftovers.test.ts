import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase, mqttUrl, uniqueSite } from '../helpers/services.js';

/**
 * Plaintext a dashboard process left in the temporary directory when it crashed (decrypted
 * footage it served, an export bundle being downloaded) is removed when a dashboard starts;
 * what a running instance serves is not.
 */
describe('a dashboard starting after one crashed', () => {
  const previousTmp = process.env.TMPDIR;
  const temp = mkdtempSync(join(tmpdir(), 'idg-leftovers-test-'));
  /** The crashed dashboard: a process that ran and ended. */
  const crashed = spawnSync(process.execPath, ['-e', '']).pid;
  let database: { url: string; drop: () => Promise<void> };
  let dashboard: Dashboard | undefined;

  beforeAll(async () => {
    process.env.TMPDIR = temp;
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await dashboard?.stop();
    await database?.drop();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    rmSync(temp, { recursive: true, force: true });
  });

  function leftover(name: string, file: string): string {
    const dir = join(temp, name);
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, file), 'plaintext', { mode: 0o600 });
    return dir;
  }

  it('removes the footage and export folders of the crashed process, and keeps a running one’s', async () => {
    const footage = leftover(`identgate-footage-${crashed}-Ab12Cd`, '0190a1b2-c3d4.mp4');
    const bundle = leftover(`idg-export-${crashed}-Ef34Gh`, 'events.csv');
    const running = leftover(`identgate-footage-${process.ppid}-Ij56Kl`, '0190a1b2-c3d5.mp4');
    const site = uniqueSite('left');
    dashboard = new Dashboard({
      config: {
        kind: 'dashboard',
        http: { host: '127.0.0.1', port: 0 },
        database: { url: database.url, poolSize: 4 },
        mqtt: { url: mqttUrl(), clientId: `idg-dash-${site}` },
        ingest: { sites: [site] },
        gateways: [],
        keys: {},
      },
      log: silentLogger,
    });
    await dashboard.start();
    expect(existsSync(footage)).toBe(false);
    expect(existsSync(bundle)).toBe(false);
    expect(existsSync(running)).toBe(true);
    // Its own footage folder, named after it; gone again when it stops.
    const own = readdirSync(temp).filter((name) => name.startsWith(`identgate-footage-${process.pid}.`));
    expect(own).toHaveLength(1);
    await dashboard.stop();
    dashboard = undefined;
    expect(readdirSync(temp).filter((name) => name.startsWith(`identgate-footage-${process.pid}.`))).toEqual(
      [],
    );
  });
});
