// Helper process for recording.bench.ts: N synthetic RTSP cameras that loop one pre-encoded clip
// with stream copy. Kept out of the benchmark's process so that its CPU is not counted as the
// recorder's. Prints the camera URLs as one JSON line, then runs until stdin closes.
import { resolveFfmpegBinaries } from '../src/gateway/recorder/ffmpeg-binary.js';
import { SyntheticCamera } from '../src/gateway/recorder/synthetic-camera.js';
import { silentLogger } from '../src/lib/logger.js';

const [clip, countText] = process.argv.slice(2);
const { ffmpeg } = resolveFfmpegBinaries();
const cameras = Array.from(
  { length: Number(countText) },
  () => new SyntheticCamera({ ffmpeg, log: silentLogger, clip }),
);
await Promise.all(cameras.map((camera) => camera.start()));
process.stdout.write(`${JSON.stringify(cameras.map((c) => c.url))}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await Promise.all(cameras.map((camera) => camera.stop()));
  process.exit(0);
});
