// The live-page clients of bench/dashboard.bench.ts, in a worker thread of their own: N streams on
// GET /api/v1/live with a staff session, each behaving like a browser's EventSource (reconnects
// after the server's retry interval with Last-Event-ID). For every event that occurred after
// `measureFrom` it records now − occurredAt in a 1 ms histogram. The stream is scanned as bytes,
// without parsing the JSON, so that 500 clients cost this thread as little as possible.
import { Agent, type ClientRequest, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

export interface SseClientsJob {
  url: string;
  cookie: string;
  clients: number;
}

/** Main thread → worker: first when measuring starts, then how many measured events to await. */
export type SseClientsCommand = { measureFrom: number } | { expected: number };

export interface SseClientsResult {
  /** histogram[ms] = events that arrived that many milliseconds after they occurred. */
  histogram: Uint32Array;
  /** Measured events received by the client that received the fewest. */
  fewest: number;
  reconnects: number;
  failures: string[];
  /** Share of the time this thread was busy while measuring: near 1, the clients lag, not the server. */
  loop: number;
}

const HISTOGRAM_MS = 60_000;
const NEEDLE = Buffer.from('"occurredAt":"');
const ID_LINE = Buffer.from('\nid: ');
const ISO_LENGTH = 24;

const job = workerData as SseClientsJob;
let measureFrom = Number.POSITIVE_INFINITY;
let loopBefore = performance.eventLoopUtilization();
const histogram = new Uint32Array(HISTOGRAM_MS + 1);
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const failures: string[] = [];
let reconnects = 0;
let stopping = false;

// Every client sees the same events: parse each timestamp once for all of them.
const parsed = new Map<string, number>();
function occurredAt(iso: string): number {
  let ms = parsed.get(iso);
  if (ms === undefined) {
    if (parsed.size > 100_000) parsed.clear();
    ms = Date.parse(iso);
    parsed.set(iso, ms);
  }
  return ms;
}

class LiveClient {
  measured = 0;
  private lastId: string | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private req: ClientRequest | undefined;

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'text/event-stream', cookie: job.cookie };
      if (this.lastId) headers['last-event-id'] = this.lastId;
      const req = request(job.url, { agent, headers }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`live stream answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.on('data', (chunk: Buffer) => this.take(chunk));
        res.on('close', () => this.dropped());
        resolve();
      });
      req.on('error', (error) => {
        if (!stopping) failures.push(error.message);
        reject(error);
      });
      req.end();
      this.req = req;
    });
  }

  close(): void {
    this.req?.destroy();
  }

  private dropped(): void {
    if (stopping) return;
    reconnects += 1;
    this.pending = Buffer.alloc(0);
    setTimeout(() => this.connect().catch((error: Error) => failures.push(error.message)), 1000);
  }

  private take(chunk: Buffer): void {
    const now = Date.now();
    const buffer = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = buffer.lastIndexOf('\n\n');
    if (end < 0) {
      this.pending = buffer;
      return;
    }
    const complete = buffer.subarray(0, end + 2);
    this.pending = Buffer.from(buffer.subarray(end + 2));
    let at = complete.indexOf(NEEDLE);
    while (at >= 0) {
      const start = at + NEEDLE.length;
      const occurred = occurredAt(complete.toString('latin1', start, start + ISO_LENGTH));
      if (occurred >= measureFrom) {
        this.measured += 1;
        const ms = Math.min(HISTOGRAM_MS, Math.max(0, now - occurred));
        histogram[ms] = (histogram[ms] as number) + 1;
      }
      at = complete.indexOf(NEEDLE, start + ISO_LENGTH);
    }
    const idAt = complete.lastIndexOf(ID_LINE);
    if (idAt >= 0) {
      const from = idAt + ID_LINE.length;
      this.lastId = complete.toString('latin1', from, complete.indexOf(10, from));
    }
  }
}

const clients = Array.from({ length: job.clients }, () => new LiveClient());
// Opened in small groups, as browsers arriving one after another would.
for (let i = 0; i < clients.length; i += 50) {
  await Promise.all(clients.slice(i, i + 50).map((c) => c.connect()));
}
parentPort?.postMessage('connected');

// `expected`: how many measured events were published. Wait (up to 15 s) until every client has
// them all, then report.
parentPort?.on('message', async (command: SseClientsCommand) => {
  if ('measureFrom' in command) {
    measureFrom = command.measureFrom;
    loopBefore = performance.eventLoopUtilization();
    return;
  }
  const loop = performance.eventLoopUtilization(loopBefore).utilization;
  const { expected } = command;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && clients.some((c) => c.measured < expected)) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  stopping = true;
  for (const client of clients) client.close();
  agent.destroy();
  const result: SseClientsResult = {
    histogram,
    fewest: Math.min(...clients.map((c) => c.measured)),
    reconnects,
    failures: failures.slice(0, 5),
    loop,
  };
  parentPort?.postMessage(result);
});
