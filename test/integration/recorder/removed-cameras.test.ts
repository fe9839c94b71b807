import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultVideoConfig } from '../../../src/config/video-config.js';
import { Gateway } from '../../../src/gateway/gateway.js';
import { RETENTION_MEMORY_FILE } from '../../../src/gateway/recorder/retention-memory.js';
import { SegmentIndex } from '../../../src/gateway/recorder/segment-index.js';
import { VideoKeyStore } from '../../../src/gateway/recorder/video-keys.js';
import { silentLogger } from '../../../src/lib/logger.js';
import type { Envelope } from '../../../src/protocol/envelope.js';
import { uniqueSite } from '../../helpers/services.js';
import { testGatewayConfig } from '../../helpers/system.js';

/** A day of footage long past the default retention (60 days) but within ten years. */
const OLD_DAY = '2025-01-01';
const FILE = '20250101T080000.000Z.mp4.idgv';

/** Footage and a day key that camera `cam-door` left behind before it was taken out of the list. */
function seedFootage(stateDir: string, rememberedDays?: number) {
  const siteKey = randomBytes(32);
  writeFileSync(join(stateDir, 'video-site-key'), `${siteKey.toString('base64')}\n`, { mode: 0o600 });
  new VideoKeyStore(join(stateDir, 'video-keys'), siteKey).keyFor('cam-door', OLD_DAY);
  const videoDir = join(stateDir, 'video');
  mkdirSync(videoDir, { recursive: true });
  if (rememberedDays)
    writeFileSync(
      join(videoDir, RETENTION_MEMORY_FILE),
      JSON.stringify({ cameras: { 'cam-door': rememberedDays } }),
    );
  const index = new SegmentIndex(videoDir, silentLogger);
  index.append('cam-door', OLD_DAY, {
    t: 'segment',
    file: FILE,
    start: `${OLD_DAY}T08:00:00.000Z`,
    end: `${OLD_DAY}T08:01:00.000Z`,
    bytes: 10,
    plainBytes: 10,
    keyId: `cam-door/${OLD_DAY}`,
    sha256: '0'.repeat(64),
  });
  writeFileSync(join(index.dayDir('cam-door', OLD_DAY), FILE), 'ciphertext');
  return {
    dayDir: index.dayDir('cam-door', OLD_DAY),
    keyFile: join(stateDir, 'video-keys', 'cam-door', `${OLD_DAY}.key`),
  };
}

describe('footage of a gateway whose last camera was taken out of the configuration', () => {
  const dirs: string[] = [];
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a gateway with no camera; retention runs once as it starts. */
  const startWithoutCameras = async (rememberedDays?: number) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-nocam-'));
    dirs.push(stateDir);
    const seeded = seedFootage(stateDir, rememberedDays);
    gateway = new Gateway({
      config: testGatewayConfig(uniqueSite('nocam'), stateDir, {
        video: defaultVideoConfig({ cameras: [] }),
      }),
      log: silentLogger,
    });
    const recorded: Envelope[] = [];
    gateway.bus.on('test', 'recorded', (event) => recorded.push(event));
    // The housekeeping's first run is not part of the gateway's start (the doors do not wait on it).
    const pruned = new Promise<void>((resolve) =>
      gateway?.bus.on('test-pruned', 'recorded', (event) => {
        if (event.kind === 'video.pruned') resolve();
      }),
    );
    await gateway.start();
    return { ...seeded, recorded, pruned };
  };

  it('deletes expired footage and its day key under the default retention', async () => {
    const { dayDir, keyFile, recorded, pruned } = await startWithoutCameras();
    await pruned;
    expect(existsSync(keyFile)).toBe(false);
    expect(existsSync(dayDir)).toBe(false);
    expect(recorded.map((e) => e.kind)).toContain('video.pruned');
  });

  it('keeps the footage for the longer retention the camera last had', async () => {
    const { dayDir, keyFile } = await startWithoutCameras(3650);
    await gateway?.stop(); // waits for the housekeeping's run in progress
    expect(existsSync(keyFile)).toBe(true);
    expect(existsSync(join(dayDir, FILE))).toBe(true);
  });
});
