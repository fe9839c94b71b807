import { randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { SignatureThreads } from '../../../../src/dashboard/ingest/signature-threads.js';
import { createLogger } from '../../../../src/lib/logger.js';
import { generateSigningKeyPair, signBytes } from '../../../../src/protocol/signing.js';

const gatewayA = generateSigningKeyPair();
const gatewayB = generateSigningKeyPair();

function logger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = createLogger({ level: 'info', format: 'json', write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/** Signed messages of two gateways; every third signature is made by the other gateway's key. */
function requests(count: number) {
  return Array.from({ length: count }, (_, i) => {
    const bytes = randomBytes(40 + (i % 200));
    const claimed = i % 2 === 0 ? gatewayA : gatewayB;
    const signer = i % 3 === 0 ? (claimed === gatewayA ? gatewayB : gatewayA) : claimed;
    return {
      key: claimed.publicKey,
      bytes,
      signature: Buffer.from(signBytes(signer.privateKey, bytes), 'base64url'),
      expected: signer === claimed,
    };
  });
}

const open: SignatureThreads[] = [];
afterEach(async () => {
  for (const threads of open.splice(0)) await threads.close();
});

function start(count: number, log = logger().log) {
  const threads = new SignatureThreads(count, log);
  open.push(threads);
  return threads;
}

describe('signature verification on worker threads', () => {
  it.each([0, 1, 2])('answers each request with its own verdict (%i threads)', async (count) => {
    const threads = start(count);
    const batch = requests(301);
    const verdicts = await Promise.all(batch.map((r) => threads.verify(r.key, r.bytes, r.signature)));
    expect(verdicts).toEqual(batch.map((r) => r.expected));
    expect(verdicts.filter((v) => !v)).toHaveLength(101);
  });

  it('refuses a signature of the wrong length, a changed message and a changed signature', async () => {
    const threads = start(1);
    const [good] = requests(1).filter((r) => r.expected);
    const [first] = requests(2).slice(1);
    const request = good ?? first;
    if (!request) throw new Error('no request');
    const flipped = Buffer.from(request.signature);
    flipped[10] = (flipped[10] as number) ^ 1;
    const changed = Buffer.from(request.bytes);
    changed[0] = (changed[0] as number) ^ 1;
    expect(
      await Promise.all([
        threads.verify(request.key, request.bytes, request.signature),
        threads.verify(request.key, request.bytes, request.signature.subarray(0, 63)),
        threads.verify(request.key, request.bytes, Buffer.alloc(0)),
        threads.verify(request.key, request.bytes, flipped),
        threads.verify(request.key, changed, request.signature),
      ]),
    ).toEqual([request.expected, false, false, false, false]);
  });

  it('verifies on the calling thread when a thread dies, with the right verdicts and an error logged', async () => {
    const { log, lines } = logger();
    const threads = start(2, log);
    const batch = requests(200);
    const verdicts = Promise.all(batch.map((r) => threads.verify(r.key, r.bytes, r.signature)));
    // Fault injection: both threads end while they hold requests.
    const workers = (threads as unknown as { workers: Array<{ worker: Worker }> }).workers;
    await Promise.all(workers.map((w) => w.worker.terminate()));
    expect(await verdicts).toEqual(batch.map((r) => r.expected));
    expect(threads.threads).toBe(0);
    const later = requests(20);
    expect(await Promise.all(later.map((r) => threads.verify(r.key, r.bytes, r.signature)))).toEqual(
      later.map((r) => r.expected),
    );
    expect(lines.filter((l) => l.msg.startsWith('signature verification thread failed'))).toHaveLength(2);
  });

  it('answers what it holds when closed, and verifies on the calling thread afterwards', async () => {
    const { log, lines } = logger();
    const threads = new SignatureThreads(1, log);
    const batch = requests(50);
    const verdicts = Promise.all(batch.map((r) => threads.verify(r.key, r.bytes, r.signature)));
    await threads.close();
    expect(await verdicts).toEqual(batch.map((r) => r.expected));
    const [after] = requests(1);
    if (!after) throw new Error('no request');
    expect(await threads.verify(after.key, after.bytes, after.signature)).toBe(after.expected);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
  });
});
