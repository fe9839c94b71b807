import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { FootageServer } from '../../../src/gateway/footage-server.js';
import type { Recorder } from '../../../src/gateway/recorder/recorder.js';
import { type Clock, FakeClock, systemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { exportEncryptionKey } from '../../../src/protocol/ecies.js';
import {
  FOOTAGE_CHUNK_BYTES,
  isFootageChunk,
  signFootageRequest,
} from '../../../src/protocol/footage-transfer.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';
import { Uuidv7Generator } from '../../../src/protocol/uuidv7.js';
import { until } from '../../helpers/wait.js';

const central = generateSigningKeyPair();
const identity = generateSigningKeyPair();
const CHUNKS = 40;

/** A stored clip of 40 footage chunks, as the recorder would decrypt it. */
const recorder = {
  footageFile: () => ({
    plainBytes: CHUNKS * FOOTAGE_CHUNK_BYTES,
    sha256: '0'.repeat(64),
    kind: 'clip',
    startMs: 0,
    endMs: 1,
  }),
  openFootage: async () => ({
    stream: Readable.from(
      (async function* () {
        for (let i = 0; i < CHUNKS; i++) yield Buffer.alloc(FOOTAGE_CHUNK_BYTES, i);
      })(),
    ),
  }),
} as unknown as Recorder;

interface Publish {
  kind: 'head' | 'chunk';
  result: 'ok' | 'failed' | 'pending';
}

function serverWith(publish: (payload: Buffer) => Promise<void>, clock: Clock = systemClock) {
  const publishes: Publish[] = [];
  const server = new FootageServer({
    site: 'site-a',
    gateway: 'gw-1',
    centralKey: central.publicKey,
    identityKey: identity.privateKey,
    recorder: () => recorder,
    publish: (_topic, payload) => {
      const entry: Publish = { kind: isFootageChunk(payload) ? 'chunk' : 'head', result: 'pending' };
      publishes.push(entry);
      // No handler of the test's own on what the server gets back: it must handle the rejection.
      return publish(payload).then(
        () => {
          entry.result = 'ok';
        },
        (error: Error) => {
          entry.result = 'failed';
          throw error;
        },
      );
    },
    alarms: new AlarmBook(() => undefined),
    clock,
    log: silentLogger,
  });
  const request = signFootageRequest(
    {
      id: new Uuidv7Generator(() => Date.now()).next(),
      site: 'site-a',
      gateway: 'gw-1',
      what: { kind: 'file', file: 'cam-1/2026-03-01/evt-a-clip.mp4.idgv' },
      epk: exportEncryptionKey(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey),
    },
    Date.now(),
    60_000,
    central.privateKey,
  );
  return { server, publishes, send: () => server.handle(Buffer.from(JSON.stringify(request)), false) };
}

describe('footage server: sending chunks to the broker', () => {
  const unhandled: unknown[] = [];
  const collect = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', collect);
  });
  afterEach(() => {
    process.off('unhandledRejection', collect);
  });

  it('stops at the first chunk the link refuses and leaves no rejection unhandled', async () => {
    // The broker connection drops after the head and five chunks: every publish from then on
    // fails at once, as GatewayLink.publish does when not connected.
    let calls = 0;
    const { server, publishes, send } = serverWith(async () => {
      calls += 1;
      if (calls > 6) throw new Error('not connected to the broker');
      await new Promise((resolve) => setImmediate(resolve));
    });
    send();
    await server.idle();
    // Let any rejection nobody handled surface (Node reports them after the microtask queue).
    await new Promise((resolve) => setTimeout(resolve, 0));

    expect(unhandled).toEqual([]);
    const firstFailure = publishes.findIndex((p) => p.result === 'failed');
    const chunksAfterIt = publishes.slice(firstFailure + 1).filter((p) => p.kind === 'chunk');
    expect(chunksAfterIt.length).toBeLessThan(4);
    expect(publishes.filter((p) => p.kind === 'chunk').length).toBeLessThan(CHUNKS);
    // The transfer's end is announced with a failed head (which fails too, while disconnected).
    expect(publishes.at(-1)).toEqual({ kind: 'head', result: 'failed' });
  });

  it('gives up a transfer whose chunks the broker does not acknowledge within 30 s', async () => {
    const clock = new FakeClock(Date.now());
    const { server, publishes, send } = serverWith(
      (payload) => (isFootageChunk(payload) ? new Promise<void>(() => undefined) : Promise.resolve()),
      clock,
    );
    send();
    await until(() => publishes.filter((p) => p.kind === 'chunk').length === 4, 'four chunks in flight');
    clock.advance(29_999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(publishes.filter((p) => p.kind === 'head')).toHaveLength(1);

    clock.advance(1);
    await server.idle();
    expect(publishes.filter((p) => p.kind === 'chunk')).toHaveLength(4);
    expect(publishes.at(-1)).toEqual({ kind: 'head', result: 'ok' });
    expect(unhandled).toEqual([]);
  });

  it('sends every chunk when the broker acknowledges them', async () => {
    const { server, publishes, send } = serverWith(() => new Promise((resolve) => setImmediate(resolve)));
    send();
    await server.idle();
    expect(publishes.filter((p) => p.kind === 'chunk' && p.result === 'ok')).toHaveLength(CHUNKS);
    expect(publishes).toHaveLength(CHUNKS + 1);
  });
});
