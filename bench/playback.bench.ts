// Playback over the footage channel: a 1080p camera's footage for BENCH_MINUTES (default 10) of
// 60 s segments at about 4 Mbit/s, requested the way the dashboard does (signed request, the
// gateway joins and encrypts, MQTT chunks, the dashboard decrypts and checks) through a real
// Mosquitto. Baseline, in the same run on the same footage: the gateway's own join
// (`recorder.playback`: decrypt the segments, concat with stream copy), which any design needs.
// Reports wall time, throughput, and CPU of this process and of ffmpeg for each.
//   node bench/run.js playback        (BENCH_MINUTES, BENCH_MQTT_URL)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connectAsync } from 'mqtt';
import type { Pool } from 'pg';
import Value from 'typebox/value';
import { VideoConfig } from '../src/config/video-config.js';
import { AlarmBook } from '../src/controllers/alarm-book.js';
import { GatewayRegistry } from '../src/dashboard/storage/gateway-registry.js';
import { FootageClient } from '../src/dashboard/video/footage-client.js';
import { FootageServer } from '../src/gateway/footage-server.js';
import { resolveFfmpegBinaries } from '../src/gateway/recorder/ffmpeg-binary.js';
import { Recorder } from '../src/gateway/recorder/recorder.js';
import { VideoKeyStore } from '../src/gateway/recorder/video-keys.js';
import { systemClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { exportPublicKey, generateSigningKeyPair } from '../src/protocol/signing.js';
import { topics } from '../src/protocol/topics.js';
import { startTestBroker } from '../test/helpers/test-broker.js';
import { row } from './bench-kit.js';

const minutes = Number(process.env.BENCH_MINUTES ?? 10);
const TICKS = 100;
const binaries = resolveFfmpegBinaries();
const root = mkdtempSync(join(tmpdir(), 'idg-bench-play-'));

/** CPU seconds of this process, and of its finished children (ffmpeg runs). */
function cpu(): { self: number; children: number } {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  const sum = (at: number[]) => at.reduce((s, i) => s + Number(fields[i]), 0) / TICKS;
  return { self: sum([11, 12]), children: sum([13, 14]) };
}

// 1. One minute of 1080p H.264 at about 4 Mbit/s, one key frame per second, cut into 60 s
//    fragmented MP4 segments as the recorder writes them, repeated for BENCH_MINUTES.
const clip = join(root, 'minute.mp4');
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
    '60',
  ],
  ...['-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '4M', '-maxrate', '4M', '-bufsize', '8M', '-g', '25'],
  ...['-pix_fmt', 'yuv420p', '-movflags', '+frag_keyframe+empty_moov+default_base_moof', clip],
]);

// 2. A recorder (no live camera) holding them, encrypted and indexed like recorded footage.
const videoDir = join(root, 'video');
const settings = Value.Default(VideoConfig, {}) as VideoConfig;
const { cameras: _none, ...recorderSettings } = settings;
const recorder = new Recorder({
  cameras: [
    { id: 'cam-1', url: 'rtsp://127.0.0.1/none', transport: 'tcp', segmentSeconds: 60, enabled: false },
  ],
  settings: {
    ...recorderSettings,
    diskCheckSeconds: 86_400,
    retentionCheckSeconds: 86_400,
    reconcileSeconds: 86_400,
  },
  videoDir,
  keyStore: new VideoKeyStore(join(root, 'keys'), randomBytes(32)),
  clock: systemClock,
  log: silentLogger,
  emit: () => undefined,
  binaries,
});
await recorder.start();
const startMs = Date.now() - (minutes + 5) * 60_000;
const spool = join(root, 'spool');
mkdirSync(spool);
for (let i = 0; i < minutes; i++) {
  const path = join(spool, `seg-${i}.mp4`);
  copyFileSync(clip, path);
  await recorder.ingest.add({
    camera: 'cam-1',
    path,
    startMs: startMs + i * 60_000,
    endMs: startMs + (i + 1) * 60_000,
    salvaged: false,
  });
}
await recorder.ingest.idle();
const fromMs = startMs;
const toMs = startMs + minutes * 60_000;

// 3. Baseline: the gateway's join alone.
let before = cpu();
let started = performance.now();
const joined = await recorder.playback('cam-1', fromMs, toMs);
const baseWall = (performance.now() - started) / 1000;
let after = cpu();
const baseSelf = after.self - before.self;
const baseFfmpeg = after.children - before.children;
const bytes = joined.bytes;
joined.release();

// 4. The whole channel: signed request, join, encrypt, MQTT, decrypt, check.
const broker = process.env.BENCH_MQTT_URL ? undefined : await startTestBroker();
const brokerUrl = process.env.BENCH_MQTT_URL ?? (broker?.url as string);
const central = generateSigningKeyPair();
const gatewayKeys = generateSigningKeyPair();
const gatewayLink = await connectAsync(brokerUrl, { clientId: 'bench-gateway' });
const server = new FootageServer({
  site: 'bench',
  gateway: 'gw-1',
  centralKey: central.publicKey,
  identityKey: gatewayKeys.privateKey,
  recorder: () => recorder,
  publish: async (topic, payload) => {
    await gatewayLink.publishAsync(topic, payload, { qos: 1 });
  },
  alarms: new AlarmBook(() => undefined),
  clock: systemClock,
  log: silentLogger,
});
gatewayLink.on('message', (_topic, payload, packet) => server.handle(payload, packet.retain));
await gatewayLink.subscribeAsync(topics.footageRequests('bench', 'gw-1'), { qos: 1 });
// Only `remember` is used: it keeps the gateway's key in memory and needs no database.
const registry = new GatewayRegistry(undefined as unknown as Pool);
registry.remember('bench', 'gw-1', exportPublicKey(gatewayKeys.publicKey));
const received = join(root, 'received');
mkdirSync(received);
const client = new FootageClient({
  url: brokerUrl,
  clientId: 'bench-dashboard',
  signingKey: central.privateKey,
  registry,
  clock: systemClock,
  log: silentLogger,
  dir: received,
});
await client.start();
before = cpu();
started = performance.now();
const fetched = await client.fetch('bench', 'gw-1', {
  kind: 'range',
  camera: 'cam-1',
  from: new Date(fromMs).toISOString(),
  to: new Date(toMs).toISOString(),
});
const wall = (performance.now() - started) / 1000;
after = cpu();
const self = after.self - before.self;
const ffmpeg = after.children - before.children;

const mib = bytes / 1_048_576;
process.stdout.write(`${minutes} min of 1080p in ${minutes} segments of 60 s: ${mib.toFixed(1)} MiB\n`);
row(
  'baseline: gateway join (decrypt + concat)',
  `${baseWall.toFixed(2)} s`,
  `${(mib / baseWall).toFixed(1)} MiB/s`,
);
row('  CPU node / ffmpeg', `${baseSelf.toFixed(2)} / ${baseFfmpeg.toFixed(2)} s`);
row(
  'footage channel, end to end',
  `${wall.toFixed(2)} s`,
  `${(mib / wall).toFixed(1)} MiB/s, ${(wall / baseWall).toFixed(2)} × baseline`,
);
row('  CPU node (both ends) / ffmpeg', `${self.toFixed(2)} / ${ffmpeg.toFixed(2)} s`);
row('  seconds of footage per second', `${((minutes * 60) / wall).toFixed(0)} ×`);
if (fetched.bytes !== bytes) throw new Error(`received ${fetched.bytes} bytes, joined ${bytes}`);

await client.stop();
await gatewayLink.endAsync();
await broker?.stop();
await recorder.stop();
rmSync(root, { recursive: true, force: true });
