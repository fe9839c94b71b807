// CCTV recording cost: N simultaneous 1080p streams (one pre-encoded clip looped with stream
// copy, served over RTSP by a helper process) recorded by the gateway's Recorder: segmenting
// ffmpeg, plus encrypting, probing and indexing every segment in Node. Baseline, measured in the
// same run on the same streams: ffmpeg only receiving them (`-c copy -f null`). Reports CPU per
// stream in % of one core, the ratio against the baseline, and gaps between segments.
// Goal: ≤ 2 % of one core per stream, 16 streams on 2 cores without gaps.
// BENCH_STREAMS (default 16) and BENCH_SECONDS (default 40) change the load and the window.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Value from 'typebox/value';
import { VideoConfig } from '../src/config/video-config.js';
import { resolveFfmpegBinaries } from '../src/gateway/recorder/ffmpeg-binary.js';
import { type CameraSpec, Recorder } from '../src/gateway/recorder/recorder.js';
import { VideoKeyStore } from '../src/gateway/recorder/video-keys.js';
import { systemClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { row } from './bench-kit.js';

const streams = Number(process.env.BENCH_STREAMS ?? 16);
const seconds = Number(process.env.BENCH_SECONDS ?? 40);
const segmentSeconds = 5;
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat on Linux
const here = dirname(fileURLToPath(import.meta.url));
const binaries = resolveFfmpegBinaries();
const root = mkdtempSync(join(tmpdir(), 'idg-bench-rec-'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number, children = false): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const at = children ? [13, 14] : [11, 12];
  return at.reduce((sum, i) => sum + Number(fields[i]), 0) / TICKS;
}

function percentPerStream(cpu: number, wall: number): string {
  return `${((100 * cpu) / wall / streams).toFixed(2)} %`;
}

// 1. A 1080p H.264 clip at about 4 Mbit/s, one key frame per second, as cameras send.
const clip = join(root, 'clip-1080p.mp4');
execFileSync(binaries.ffmpeg, [
  ...[
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1920x1080:rate=25',
    '-t',
    '10',
  ],
  ...[
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-b:v',
    '4M',
    '-maxrate',
    '4M',
    '-bufsize',
    '8M',
    '-g',
    '25',
    '-pix_fmt',
    'yuv420p',
    clip,
  ],
]);

// 2. N RTSP cameras looping it, in a helper process.
const sources = spawn(
  process.execPath,
  ['--import', 'tsx', join(here, 'recording-sources.ts'), clip, String(streams)],
  {
    stdio: ['pipe', 'pipe', 'inherit'],
  },
);
const urls = await new Promise<string[]>((resolve, reject) => {
  let text = '';
  sources.stdout?.on('data', (chunk) => {
    text += chunk;
    if (text.includes('\n')) resolve(JSON.parse(text.split('\n')[0] as string) as string[]);
  });
  sources.on('exit', (code) => reject(new Error(`sources exited with ${code}`)));
});

// 3. Baseline: ffmpeg receiving every stream and throwing it away.
const receivers: ChildProcess[] = urls.map((url) =>
  spawn(
    binaries.ffmpeg,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-rtsp_transport',
      'udp',
      '-i',
      url,
      '-c',
      'copy',
      '-f',
      'null',
      '-',
    ],
    {
      stdio: 'ignore',
    },
  ),
);
await sleep(8000); // connect and probe
const baseStart = receivers.map((r) => cpuSeconds(r.pid as number));
const baseWindow = Math.min(20, seconds);
await sleep(baseWindow * 1000);
const baseCpu = receivers.reduce(
  (sum, r, i) => sum + cpuSeconds(r.pid as number) - (baseStart[i] as number),
  0,
);
for (const receiver of receivers) receiver.kill('SIGTERM');

// 4. The recorder on the same streams.
const { cameras: _none, ...settings } = Value.Default(VideoConfig, {}) as VideoConfig;
const cameras: CameraSpec[] = urls.map((url, i) => ({
  id: `cam-${i + 1}`,
  url,
  transport: 'udp',
  segmentSeconds,
  enabled: true,
}));
const segments = new Map<string, Array<{ start: number; end: number }>>();
const recorder = new Recorder({
  cameras,
  settings: { ...settings, minFreeBytes: 0, minFreePercent: 0 },
  videoDir: join(root, 'video'),
  keyStore: new VideoKeyStore(join(root, 'keys'), randomBytes(32)),
  clock: systemClock,
  log: silentLogger,
  binaries,
  emit: (kind, data) => {
    if (kind !== 'video.segment') return;
    const segment = data as { camera: string; start: string; end: string };
    const list = segments.get(segment.camera) ?? [];
    list.push({ start: Date.parse(segment.start), end: Date.parse(segment.end) });
    segments.set(segment.camera, list);
  },
});
await recorder.start();
await sleep(10_000); // connect, probe, first segments
const pids = recorder.status().map((s) => s.pid as number);
const ffStart = pids.map((pid) => cpuSeconds(pid));
const nodeStart = cpuSeconds(process.pid) + cpuSeconds(process.pid, true);
const wallStart = performance.now();
const countStart = [...segments.values()].reduce((n, l) => n + l.length, 0);
await sleep(seconds * 1000);
const wall = (performance.now() - wallStart) / 1000;
const status = recorder.status();
const ffCpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - (ffStart[i] as number), 0);
const nodeCpu = cpuSeconds(process.pid) + cpuSeconds(process.pid, true) - nodeStart;
const recorded = [...segments.values()].reduce((n, l) => n + l.length, 0) - countStart;
await recorder.stop();
sources.stdin?.end();
await new Promise((resolve) => sources.on('exit', resolve));

let gaps = 0;
let worstGapMs = 0;
for (const list of segments.values()) {
  list.sort((a, b) => a.start - b.start);
  for (let i = 1; i < list.length; i++) {
    const gap = (list[i]?.start ?? 0) - (list[i - 1]?.end ?? 0);
    worstGapMs = Math.max(worstGapMs, gap);
    if (gap > 500) gaps += 1;
  }
}
rmSync(root, { recursive: true, force: true });

const total = ffCpu + nodeCpu;
row(`streams (1080p, ~4 Mbit/s, ${segmentSeconds} s segments)`, String(streams));
row('baseline: ffmpeg receive only, per stream', percentPerStream(baseCpu, baseWindow));
row('recorder: segmenting ffmpeg, per stream', percentPerStream(ffCpu, wall));
row('recorder: encrypt + probe + index, per stream', percentPerStream(nodeCpu, wall));
row(
  'recorder: total, per stream (goal <= 2 %)',
  percentPerStream(total, wall),
  `${(total / wall / (baseCpu / baseWindow)).toFixed(2)} x baseline`,
);
row('segments recorded in the window', String(recorded));
row('gaps > 0.5 s between segments (goal 0)', String(gaps), `worst ${worstGapMs} ms`);
row('restarts during the run', String(status.reduce((n, s) => n + s.restarts, 0)));
