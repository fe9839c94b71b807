// Footage housekeeping and the gateway's event loop (the loop the doors run on): a retention run
// over BENCH_CAMERAS cameras (default 2) × 60 days of 60 s segments (1,440 index rows a day), the
// oldest day of each camera past retention. Baseline, in the same run: the run as it was before,
// every index row read and parsed and the plan made in one turn (index.all() + planRetention).
// Printed: the longest time the loop was held up, and how long the run took.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultVideoConfig } from '../src/config/video-config.js';
import { FootageHousekeeping } from '../src/gateway/recorder/footage-housekeeping.js';
import { rowMac } from '../src/gateway/recorder/index-mac.js';
import { SegmentIndex } from '../src/gateway/recorder/segment-index.js';
import { compactTime, DAY_MS, dayOf } from '../src/gateway/recorder/video-days.js';
import { VideoKeyStore } from '../src/gateway/recorder/video-keys.js';
import { planRetention } from '../src/gateway/recorder/video-retention.js';
import { silentLogger } from '../src/lib/logger.js';
import { row } from './bench-kit.js';

const CAMERAS = Number(process.env.BENCH_CAMERAS ?? 2);
const DAYS = 60;
const PER_DAY = 1440;
const first = Date.parse('2026-01-01T00:00:00Z');
const now = first + (DAYS + 1) * DAY_MS + 3_600_000;

/** The longest time between two turns of the event loop while `work` runs, and how long it took. */
async function measure(work: () => Promise<unknown>): Promise<{ longestStallMs: number; ms: number }> {
  let longest = 0;
  let last = performance.now();
  let running = true;
  const tick = () => {
    const at = performance.now();
    longest = Math.max(longest, at - last);
    last = at;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const start = performance.now();
  await work();
  const ms = performance.now() - start;
  running = false;
  longest = Math.max(longest, performance.now() - last);
  return { longestStallMs: longest, ms };
}

/** Footage as the recorder leaves it: index rows only (no segment files: they are not read). */
function layout(root: string, keys: VideoKeyStore): void {
  const key = randomBytes(32);
  for (let c = 0; c < CAMERAS; c++) {
    const camera = `cam-${c}`;
    for (let d = 0; d < DAYS; d++) {
      const day = dayOf(first + d * DAY_MS);
      keys.keyFor(camera, day);
      mkdirSync(join(root, camera, day), { recursive: true });
      const lines: string[] = [];
      for (let s = 0; s < PER_DAY; s++) {
        const t = first + d * DAY_MS + s * 60_000;
        const stored = {
          t: 'segment' as const,
          file: `${compactTime(t)}.mp4.idgv`,
          start: new Date(t).toISOString(),
          end: new Date(t + 60_000).toISOString(),
          bytes: 15_000_000,
          plainBytes: 14_996_000,
          keyId: `${camera}/${day}`,
          sha256: 'a'.repeat(64),
          boot: 'an-earlier-boot',
          up: 123_456_789,
        };
        lines.push(JSON.stringify({ ...stored, mac: rowMac(key, camera, day, stored) }));
      }
      writeFileSync(join(root, camera, day, 'index.jsonl'), `${lines.join('\n')}\n`);
    }
  }
}

function copy(): { videoDir: string; keys: VideoKeyStore; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'idg-bench-housekeeping-'));
  const keys = new VideoKeyStore(join(root, 'keys'), randomBytes(32));
  layout(join(root, 'video'), keys);
  return { videoDir: join(root, 'video'), keys, root };
}

const policy = { defaultDays: DAYS, cameraDays: {}, holds: [] };
const before = copy();
const after = copy();
try {
  const { cameras: _none, ...settings } = defaultVideoConfig({ retentionDays: DAYS });
  const housekeeping = new FootageHousekeeping({
    cameras: [],
    settings,
    videoDir: after.videoDir,
    keyStore: after.keys,
    clock: { now: () => now, setTimeout: () => ({ cancel: () => undefined }) },
    log: silentLogger,
    emit: () => undefined,
    uptime: () => ({ boot: 'this-boot', upMs: 1000 }),
  });
  // The new run first, so that it does not pay for the garbage the baseline leaves.
  const sliced = await measure(() => housekeeping.maintenance.enforceRetention());
  const baseline = await measure(async () => {
    const index = new SegmentIndex(before.videoDir, silentLogger);
    const days = index.cameras().flatMap((camera) => index.days(camera).map((day) => ({ camera, day })));
    planRetention(now, policy, index.all(), days, before.keys.list(), undefined);
  });
  const rows = CAMERAS * DAYS * PER_DAY;
  console.log(`${CAMERAS} camera(s) × ${DAYS} days, ${rows.toLocaleString('en-US')} index rows`);
  row('baseline: all rows in one turn, longest stall', `${baseline.longestStallMs.toFixed(1)} ms`);
  row(
    'retention run by camera-day, longest stall',
    `${sliced.longestStallMs.toFixed(1)} ms`,
    `${(baseline.longestStallMs / sliced.longestStallMs).toFixed(0)}× shorter`,
  );
  row('baseline: run took', `${baseline.ms.toFixed(0)} ms`);
  row('retention run by camera-day: run took', `${sliced.ms.toFixed(0)} ms (deletes included)`);
} finally {
  rmSync(before.root, { recursive: true, force: true });
  rmSync(after.root, { recursive: true, force: true });
}
