import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlarmBook } from '../../src/controllers/alarm-book.js';
import { FootageServer } from '../../src/gateway/footage-server.js';
import { GatewayLink } from '../../src/gateway/gateway-link.js';
import { OutboxJournal } from '../../src/gateway/outbox/outbox-journal.js';
import type { Recorder } from '../../src/gateway/recorder/recorder.js';
import { systemClock } from '../../src/lib/clock.js';
import { createLogger, silentLogger } from '../../src/lib/logger.js';
import { exportEncryptionKey } from '../../src/protocol/ecies.js';
import { FOOTAGE_CHUNK_BYTES, signFootageRequest } from '../../src/protocol/footage-transfer.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';
import { OwnMosquitto } from '../helpers/mosquitto.js';
import { until } from '../helpers/wait.js';

/**
 * The broker connection drops in the middle of a footage transfer (a real Mosquitto stopped, the
 * gateway's real MQTT link): the chunks in flight stay pending in MQTT.js, every new publish fails
 * at once, and the gateway must end the transfer without a rejection nobody handles — which
 * Node 20 would answer by ending the process, doors and all.
 */
describe('footage transfer when the broker goes away', () => {
  let broker: OwnMosquitto;
  let link: GatewayLink;
  let journal: OutboxJournal;
  const dir = mkdtempSync(join(tmpdir(), 'idg-footage-drop-'));
  const unhandled: unknown[] = [];
  const collect = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', collect);
    broker = await OwnMosquitto.start();
    journal = new OutboxJournal({ dir, log: silentLogger });
    journal.recover();
    link = new GatewayLink({
      url: broker.url,
      clientId: 'idg-footage-drop',
      site: 'site-a',
      gateway: 'gw-1',
      journal,
      log: silentLogger,
    });
    link.start();
    await until(() => link.state === 'online', 'the link to connect');
  });

  afterAll(async () => {
    process.off('unhandledRejection', collect);
    await link?.stop();
    await journal?.close();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends the transfer with a logged failure and leaves no rejection unhandled', async () => {
    const central = generateSigningKeyPair();
    const identity = generateSigningKeyPair();
    const chunks = 40;
    // A 10 MiB clip whose seventh chunk is read only once the link knows the broker is gone.
    const recorder = {
      footageFile: () => ({
        plainBytes: chunks * FOOTAGE_CHUNK_BYTES,
        sha256: '0'.repeat(64),
        kind: 'clip',
        startMs: 0,
        endMs: 1,
      }),
      openFootage: async () => ({
        stream: Readable.from(
          (async function* () {
            for (let i = 0; i < chunks; i++) {
              if (i === 6) {
                // Every chunk so far acknowledged first: on a slow machine the window could
                // otherwise still be full of chunks the stopped broker never acknowledges, and
                // the transfer would end by the acknowledgement wait (30 s) instead.
                await until(() => acknowledged === publishes, 'the first chunks to be acknowledged');
                await broker.stop();
                await until(() => link.state !== 'online', 'the link to notice the broker is gone');
              }
              yield Buffer.alloc(FOOTAGE_CHUNK_BYTES, i);
            }
          })(),
        ),
      }),
    } as unknown as Recorder;
    const lines: string[] = [];
    let publishes = 0;
    let acknowledged = 0;
    const server = new FootageServer({
      site: 'site-a',
      gateway: 'gw-1',
      centralKey: central.publicKey,
      identityKey: identity.privateKey,
      recorder: () => recorder,
      publish: (topic, payload) => {
        publishes += 1;
        const sent = link.publish(topic, payload);
        sent.then(
          () => {
            acknowledged += 1;
          },
          () => undefined,
        );
        return sent;
      },
      alarms: new AlarmBook(() => undefined),
      clock: systemClock,
      log: createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) }),
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

    server.handle(Buffer.from(JSON.stringify(request)), false);
    await server.idle();
    await new Promise((resolve) => setTimeout(resolve, 0));

    expect(unhandled).toEqual([]);
    const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'footage transfer failed');
    expect(failed?.err?.message).toBe('not connected to the broker');
    // The head, six chunks before the drop, the one refused after it, and the failed head.
    expect(publishes).toBe(1 + 6 + 1 + 1);
  });
});
