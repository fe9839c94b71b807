import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Clock } from '../../lib/clock.js';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import type { TlsClientOptions } from '../../lib/tls-profile.js';
import { exportEncryptionKey } from '../../protocol/ecies.js';
import {
  checkFootageHead,
  dashboardTransferKey,
  type FootageHead,
  type FootageWhat,
  isFootageChunk,
  openFootageChunk,
  signFootageRequest,
  type TransferKey,
} from '../../protocol/footage-transfer.js';
import { topics } from '../../protocol/topics.js';
import { Uuidv7Generator } from '../../protocol/uuidv7.js';
import { connectCentralMqtt } from '../central-mqtt.js';
import type { GatewayRegistry } from '../storage/gateway-registry.js';
import { publishWithdrawable, type WithdrawablePublish } from '../withdrawable-publish.js';

/**
 * The dashboard's end of the footage channel (docs/video.md, playback): a signed request with a
 * one-time key to one gateway, the answer's head checked against the gateway's registered key,
 * its chunks decrypted into a private file. Its own broker connection, so a long transfer never
 * delays commands or ingest.
 */
export interface FootageClientOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: TlsClientOptions;
  signingKey: KeyObject | undefined;
  registry: GatewayRegistry;
  clock: Clock;
  log: Logger;
  /** A private (0700) folder for the decrypted answers. */
  dir: string;
  /** Give up when the gateway has sent nothing for this long. */
  idleTimeoutMs?: number;
  /** Refuse answers announcing more than this. */
  maxBytes?: number;
}

export interface FetchedFootage {
  path: string;
  bytes: number;
  contentType: string;
  sha256: string;
  fromMs?: number;
  toMs?: number;
}

export type FootageFailure =
  | 'not-found'
  | 'rejected'
  | 'failed'
  | 'timeout'
  | 'integrity'
  | 'wrong-type'
  | 'unavailable';

const STATUS_OF: Record<FootageFailure, number> = {
  'not-found': 404,
  rejected: 400,
  failed: 502,
  timeout: 504,
  integrity: 502,
  'wrong-type': 502,
  unavailable: 503,
};

/** A footage request that did not produce footage; `statusCode` is what the HTTP API answers. */
export class FootageError extends CodedError {
  readonly statusCode: number;

  constructor(
    readonly failure: FootageFailure,
    message: string,
  ) {
    super(`IDG_VIDEO_${failure.toUpperCase().replace('-', '_')}`, message);
    this.statusCode = STATUS_OF[failure];
  }
}

interface Transfer {
  site: string;
  gateway: string;
  gatewayKey: KeyObject;
  oneTime: { privateKey: KeyObject; publicKey: KeyObject };
  path: string;
  file?: FileHandle;
  head?: FootageHead;
  key?: TransferKey;
  chunks: number;
  received: Set<number>;
  early: Buffer[];
  /** The file's open, then each chunk's write, in order. */
  writes: Promise<unknown>;
  timer?: NodeJS.Timeout;
  /** The request's publish, until the broker acknowledged it. */
  request?: WithdrawablePublish;
  acknowledged: boolean;
  ended: boolean;
  resolve(footage: FetchedFootage): void;
  reject(error: Error): void;
}

export class FootageClient {
  private client: MqttClient | undefined;
  private readonly ids: Uuidv7Generator;
  private readonly transfers = new Map<string, Transfer>();
  /** Files of failed transfers being closed and deleted. */
  private readonly discarding = new Set<Promise<void>>();
  /** Aborted by stop: a start still waiting for the broker ends. */
  private readonly starting = new AbortController();

  constructor(private readonly options: FootageClientOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
  }

  async start(): Promise<void> {
    const client = await connectCentralMqtt(
      this.options,
      'footage channel',
      this.options.log,
      this.starting.signal,
    );
    this.client = client;
    client.on('message', (topic, payload) => this.receive(topic, payload));
  }

  async stop(): Promise<void> {
    this.starting.abort();
    for (const [id, transfer] of this.transfers)
      this.finish(id, transfer, new FootageError('failed', 'the dashboard is shutting down'));
    await Promise.all(this.discarding);
    const client = this.client;
    this.client = undefined;
    // Requests are withdrawn by now; what is still unacknowledged (an unsubscribe queued while the
    // broker is away) is not worth waiting for: a broker that is gone would keep the stop waiting.
    await client?.endAsync(Object.keys(client.outgoing).length > 0);
  }

  get canSign(): boolean {
    return this.options.signingKey !== undefined;
  }

  /** Whether the broker connection is up. */
  get connected(): boolean {
    return this.client?.connected === true;
  }

  /**
   * Asks a gateway for footage; resolves with the decrypted file once every chunk is in and
   * checked. Every failure, the broker's included, rejects the promise returned (503 when the
   * broker does not take the request, 504 when the gateway stays silent): nothing is left to
   * reject later where nobody listens.
   */
  async fetch(site: string, gateway: string, what: FootageWhat): Promise<FetchedFootage> {
    const { signingKey, registry, clock, dir } = this.options;
    const client = this.client;
    if (!client) throw new CodedError('IDG_MESSENGER_STOPPED', 'the footage channel is not running');
    if (!signingKey)
      throw new CodedError(
        'IDG_NO_CENTRAL_KEY',
        'keys.signing is not configured: footage cannot be requested',
      );
    const registered = registry.get(site, gateway);
    if (!registered) throw new FootageError('not-found', `no gateway ${site}/${gateway}`);
    if (!client.connected)
      throw new FootageError(
        'unavailable',
        'the dashboard is not connected to the broker; try again shortly',
      );
    const id = this.ids.next();
    const oneTime = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const request = signFootageRequest(
      { id, site, gateway, what, epk: exportEncryptionKey(oneTime.publicKey) },
      clock.now(),
      60_000,
      signingKey,
    );
    let settle: Pick<Transfer, 'resolve' | 'reject'> | undefined;
    const result = new Promise<FetchedFootage>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const transfer: Transfer = {
      site,
      gateway,
      gatewayKey: registered.signingKey,
      oneTime,
      path: join(dir, `${id}.part`),
      chunks: 0,
      received: new Set(),
      early: [],
      writes: Promise.resolve(),
      acknowledged: false,
      ended: false,
      ...(settle as Pick<Transfer, 'resolve' | 'reject'>),
    };
    this.transfers.set(id, transfer);
    this.touch(id);
    this.send(client, id, transfer, JSON.stringify(request), what).catch((error: Error) =>
      this.finish(
        id,
        transfer,
        new FootageError('unavailable', `the broker did not take the footage request: ${error.message}`),
      ),
    );
    return result;
  }

  /** Subscribes to the answer's topic, then publishes the request; the idle timer bounds both. */
  private async send(
    client: MqttClient,
    id: string,
    transfer: Transfer,
    request: string,
    what: FootageWhat,
  ): Promise<void> {
    const { site, gateway } = transfer;
    await client.subscribeAsync(topics.footage(site, gateway, id), { qos: 1 });
    if (transfer.ended) return;
    transfer.request = publishWithdrawable(client, topics.footageRequests(site, gateway), request);
    await transfer.request.acknowledged;
    transfer.acknowledged = true;
    this.options.log.info({ site, gateway, request: id, what }, 'footage requested');
  }

  private receive(topic: string, payload: Buffer): void {
    const id = topic.split('/').pop() ?? '';
    const transfer = this.transfers.get(id);
    if (!transfer || topic !== topics.footage(transfer.site, transfer.gateway, id)) return;
    transfer.acknowledged = true; // an answer: the request got through, whatever its PUBACK does
    this.touch(id);
    try {
      if (isFootageChunk(payload)) this.chunk(id, transfer, payload);
      else this.head(id, transfer, payload);
    } catch (error) {
      // A chunk that fails authentication throws the cipher's own error: it is the answer's integrity.
      const message = (error as Error).message;
      this.finish(
        id,
        transfer,
        error instanceof FootageError ? error : new FootageError('integrity', message),
      );
    }
  }

  private head(id: string, transfer: Transfer, payload: Buffer): void {
    const checked = checkFootageHead(payload, transfer.gatewayKey);
    // A second head is a redelivery, or the gateway giving up half-way (signed, so it may).
    if (transfer.head && (!checked.ok || checked.head.status === 'ok')) return;
    if (!checked.ok) {
      this.options.log.warn({ request: id, detail: checked.detail }, 'footage answer refused');
      throw new FootageError(
        'integrity',
        `the answer of ${transfer.site}/${transfer.gateway}: ${checked.detail}`,
      );
    }
    const head = checked.head;
    if (head.request !== id || head.site !== transfer.site || head.gateway !== transfer.gateway)
      throw new FootageError('integrity', 'the answer names another request or gateway');
    if (head.status !== 'ok')
      throw new FootageError(head.status, head.reason ?? `the gateway answered ${head.status}`);
    const { bytes, chunkSize, sha256, epk } = head;
    if (bytes === undefined || !chunkSize || !sha256 || !epk)
      throw new FootageError('integrity', 'the answer lacks its size, hash or key');
    const maxBytes = this.options.maxBytes ?? 2 ** 31;
    if (bytes > maxBytes)
      throw new FootageError('rejected', `${bytes} bytes is more than the ${maxBytes} allowed`);
    transfer.head = head;
    transfer.chunks = Math.max(1, Math.ceil(bytes / chunkSize));
    transfer.key = dashboardTransferKey(transfer.oneTime, epk, id);
    transfer.writes = open(transfer.path, 'w', 0o600).then((file) => {
      transfer.file = file;
    });
    // Chunks that follow carry a failed open to finish; this makes it heard without them too.
    transfer.writes.catch((error: Error) => this.finish(id, transfer, error));
    for (const early of transfer.early.splice(0)) this.chunk(id, transfer, early);
  }

  private chunk(id: string, transfer: Transfer, payload: Buffer): void {
    const { head, key } = transfer;
    if (!head || !key) {
      if (transfer.early.length > 64) throw new FootageError('integrity', 'chunks without a head');
      transfer.early.push(payload);
      return;
    }
    const { index, plain } = openFootageChunk(key, payload, transfer.chunks);
    const chunkSize = head.chunkSize as number;
    const expected = Math.min(chunkSize, (head.bytes as number) - index * chunkSize);
    if (plain.length !== Math.max(0, expected))
      throw new FootageError('integrity', `chunk ${index} has ${plain.length} bytes, not ${expected}`);
    if (transfer.received.has(index)) return; // a redelivery
    transfer.received.add(index);
    const complete = transfer.received.size === transfer.chunks;
    transfer.writes = transfer.writes
      .then(() =>
        transfer.ended ? undefined : transfer.file?.write(plain, 0, plain.length, index * chunkSize),
      )
      .then(async () => {
        if (complete) await this.complete(id, transfer);
      })
      .catch((error: Error) => this.finish(id, transfer, error));
  }

  private async complete(id: string, transfer: Transfer): Promise<void> {
    const head = transfer.head as FootageHead;
    await transfer.file?.close();
    transfer.file = undefined;
    const hash = createHash('sha256');
    for await (const piece of createReadStream(transfer.path)) hash.update(piece as Buffer);
    const sha256 = hash.digest('hex');
    if (sha256 !== head.sha256)
      throw new FootageError(
        'integrity',
        `the footage hashes to ${sha256}, the gateway announced ${head.sha256}`,
      );
    this.finish(id, transfer, undefined, {
      path: transfer.path,
      bytes: head.bytes as number,
      contentType: head.contentType ?? 'application/octet-stream',
      sha256,
      ...(head.from ? { fromMs: Date.parse(head.from) } : {}),
      ...(head.to ? { toMs: Date.parse(head.to) } : {}),
    });
  }

  private touch(id: string): void {
    const transfer = this.transfers.get(id);
    if (!transfer) return;
    if (transfer.timer) clearTimeout(transfer.timer);
    const idleMs = this.options.idleTimeoutMs ?? 30_000;
    transfer.timer = setTimeout(
      () =>
        this.finish(
          id,
          transfer,
          transfer.acknowledged
            ? new FootageError('timeout', `no answer from the gateway within ${idleMs} ms`)
            : new FootageError(
                'unavailable',
                `the broker did not acknowledge the request within ${idleMs} ms`,
              ),
        ),
      idleMs,
    );
    transfer.timer.unref();
  }

  private finish(id: string, transfer: Transfer, error?: Error, footage?: FetchedFootage): void {
    if (this.transfers.get(id) !== transfer) return;
    this.transfers.delete(id);
    transfer.ended = true;
    if (transfer.timer) clearTimeout(transfer.timer);
    this.client?.unsubscribe(topics.footage(transfer.site, transfer.gateway, id));
    if (footage && !error) {
      transfer.resolve(footage);
      return;
    }
    // Not sent yet: it must not reach the gateway after a reconnect, past its window.
    transfer.request?.withdraw();
    const discarded = this.discard(transfer);
    this.discarding.add(discarded);
    void discarded.finally(() => this.discarding.delete(discarded));
    transfer.reject(error ?? new FootageError('failed', 'the transfer ended without footage'));
  }

  /**
   * Deletes a failed transfer's file once its open and the writes already queued are done: deleted
   * before, the open would create it again afterwards, and the handle would stay open.
   */
  private async discard(transfer: Transfer): Promise<void> {
    await transfer.writes.catch(() => undefined);
    const file = transfer.file;
    transfer.file = undefined;
    try {
      await file?.close();
      rmSync(transfer.path, { force: true });
    } catch (error) {
      this.options.log.error(
        { err: error, path: transfer.path },
        "footage: a failed transfer's decrypted file could not be deleted",
      );
    }
  }
}
