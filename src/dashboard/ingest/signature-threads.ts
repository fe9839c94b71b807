import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../lib/logger.js';
import { verifyRawSignature } from '../../protocol/signing.js';

/**
 * Ed25519 verification on worker threads: the ingest's largest CPU cost (about 120 µs per event
 * on this project's 2-core machines, `openssl speed ed25519`: 8,200 verifications/s per core),
 * taken off the thread that reads the broker and talks to PostgreSQL.
 *
 * Requests made in the same turn of the event loop go to a thread as one message, so the cost of
 * crossing threads is paid per burst, not per event. A thread that dies is not replaced: its
 * open requests and every later one are verified on the calling thread instead, with an error
 * logged, so a failure here costs speed and never a wrong answer.
 */
export class SignatureThreads {
  private readonly workers: WorkerSlot[] = [];
  private readonly rawKeys = new WeakMap<KeyObject, string>();
  private pending: Request[] = [];
  private flushScheduled = false;
  private next = 0;
  private nextBatch = 1;
  private closed = false;

  constructor(
    threads: number,
    private readonly log: Logger,
  ) {
    for (let i = 0; i < threads; i += 1) this.workers.push(this.spawn(i));
  }

  get threads(): number {
    return this.workers.filter((w) => w.alive).length;
  }

  /** Whether `signature` (64 raw bytes) over `bytes` verifies with `key`. */
  verify(key: KeyObject, bytes: Buffer, signature: Buffer): Promise<boolean> {
    if (this.closed || this.threads === 0) return Promise.resolve(verifyRawSignature(key, bytes, signature));
    return new Promise((resolve) => {
      this.pending.push({ key, bytes, signature, resolve });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Ends the threads once the requests they hold are answered. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    await Promise.all(
      this.workers.map(async (slot) => {
        await Promise.all([...slot.open.values()].map((batch) => batch.done));
        slot.alive = false;
        await slot.worker.terminate();
      }),
    );
  }

  private flush(): void {
    this.flushScheduled = false;
    const requests = this.pending;
    this.pending = [];
    if (requests.length === 0) return;
    const alive = this.workers.filter((w) => w.alive);
    if (alive.length === 0) {
      for (const r of requests) r.resolve(verifyRawSignature(r.key, r.bytes, r.signature));
      return;
    }
    // Split the burst evenly over the threads, so that they finish it together.
    const share = Math.ceil(requests.length / alive.length);
    for (let start = 0; start < requests.length; start += share) {
      const slot = alive[this.next++ % alive.length] as WorkerSlot;
      this.send(slot, requests.slice(start, start + share));
    }
  }

  private send(slot: WorkerSlot, requests: Request[]): void {
    const id = this.nextBatch++;
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    slot.open.set(id, { requests, done, finish });
    slot.worker.postMessage({
      id,
      items: requests.map((r) => [this.rawKey(r.key), r.bytes, r.signature]),
    });
  }

  private rawKey(key: KeyObject): string {
    let raw = this.rawKeys.get(key);
    if (raw === undefined) {
      raw = String(key.export({ format: 'jwk' }).x);
      this.rawKeys.set(key, raw);
    }
    return raw;
  }

  private spawn(index: number): WorkerSlot {
    // Source text rather than a module file: the same code then runs under the compiled build,
    // tsx and vitest, none of which can hand a .ts file to a worker thread.
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: `identgate-verify-${index}` });
    worker.unref();
    const slot: WorkerSlot = { worker, alive: true, open: new Map() };
    worker.on('message', (answer: { id: number; results: Uint8Array }) => {
      const batch = slot.open.get(answer.id);
      if (!batch) return;
      slot.open.delete(answer.id);
      batch.requests.forEach((r, i) => {
        r.resolve(answer.results[i] === 1);
      });
      batch.finish();
    });
    const fail = (error: Error | undefined) => {
      if (!slot.alive) return;
      slot.alive = false;
      if (!this.closed) {
        this.log.error(
          { err: error, thread: index },
          'signature verification thread failed; verifying on the ingest thread instead',
        );
      }
      for (const batch of slot.open.values()) {
        for (const r of batch.requests) r.resolve(verifyRawSignature(r.key, r.bytes, r.signature));
        batch.finish();
      }
      slot.open.clear();
    };
    worker.on('error', (error) => fail(error));
    worker.on('exit', (code) => fail(code === 0 ? undefined : new Error(`thread exited with ${code}`)));
    return slot;
  }
}

interface Request {
  key: KeyObject;
  bytes: Buffer;
  signature: Buffer;
  resolve: (ok: boolean) => void;
}

interface WorkerSlot {
  worker: Worker;
  alive: boolean;
  open: Map<number, { requests: Request[]; done: Promise<void>; finish: () => void }>;
}

// Keys arrive as the base64url of their 32 raw bytes and are kept per thread; gateways are few.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
function keyOf(x) {
  let key = keys.get(x);
  if (key === undefined) {
    if (keys.size >= 10000) keys.clear();
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    keys.set(x, key);
  }
  return key;
}
parentPort.on('message', ({ id, items }) => {
  const results = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i += 1) {
    const [x, bytes, signature] = items[i];
    try {
      results[i] = signature.length === 64 && verify(null, bytes, keyOf(x), signature) ? 1 : 0;
    } catch {
      results[i] = 0;
    }
  }
  parentPort.postMessage({ id, results });
});
`;
