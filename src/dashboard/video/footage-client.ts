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

export type FootageFailure = 'not-found' | 'rejected' | 'failed' | 'timeout' | 'integrity';

const STATUS_OF: Record<FootageFailure, number> = {
  'not-found': 404,
  rejected: 400,
  failed: 502,
  timeout: 504,
  integrity: 502,
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
  writes: Promise<unknown>;
  timer?: NodeJS.Timeout;
  resolve(footage: FetchedFootage): void;
  reject(error: Error): void;
}

export class FootageClient {
  private client: MqttClient | undefined;
  private readonly ids: Uuidv7Generator;
  private readonly transfers = new Map<string, Transfer>();
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
    await this.client?.endAsync();
    this.client = undefined;
  }

  get canSign(): boolean {
    return this.options.signingKey !== undefined;
  }

  /** Asks a gateway for footage; resolves with the decrypted file once every chunk is in and checked. */
  async fetch(site: string, gateway: string, what: FootageWhat): Promise<FetchedFootage> {
    const { signingKey, registry, clock, log, dir } = this.options;
    const client = this.client;
    if (!client) throw new CodedError('IDG_MESSENGER_STOPPED', 'the footage channel is not running');
    if (!signingKey)
      throw new CodedError(
        'IDG_NO_CENTRAL_KEY',
        'keys.signing is not configured: footage cannot be requested',
      );
    const registered = registry.get(site, gateway);
    if (!registered) throw new FootageError('not-found', `no gateway ${site}/${gateway}`);
    const id = this.ids.next();
    const oneTime = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const request = signFootageRequest(
      { id, site, gateway, what, epk: exportEncryptionKey(oneTime.publicKey) },
      clock.now(),
      60_000,
      signingKey,
    );
    const topic = topics.footage(site, gateway, id);
    const result = new Promise<FetchedFootage>((resolve, reject) => {
      this.transfers.set(id, {
        site,
        gateway,
        gatewayKey: registered.signingKey,
        oneTime,
        path: join(dir, `${id}.part`),
        chunks: 0,
        received: new Set(),
        early: [],
        writes: Promise.resolve(),
        resolve,
        reject,
      });
    });
    this.touch(id);
    await client.subscribeAsync(topic, { qos: 1 });
    await client.publishAsync(topics.footageRequests(site, gateway), JSON.stringify(request), { qos: 1 });
    log.info({ site, gateway, request: id, what }, 'footage requested');
    return result;
  }

  private receive(topic: string, payload: Buffer): void {
    const id = topic.split('/').pop() ?? '';
    const transfer = this.transfers.get(id);
    if (!transfer || topic !== topics.footage(transfer.site, transfer.gateway, id)) return;
    this.touch(id);
    try {
      if (isFootageChunk(payload)) this.chunk(id, transfer, payload);
      else this.head(id, transfer, payload);
    } catch (error) {
      this.finish(id, transfer, error as Error);
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
      .then(() => transfer.file?.write(plain, 0, plain.length, index * chunkSize))
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
          new FootageError('timeout', `no answer from the gateway within ${idleMs} ms`),
        ),
      idleMs,
    );
    transfer.timer.unref();
  }

  private finish(id: string, transfer: Transfer, error?: Error, footage?: FetchedFootage): void {
    if (this.transfers.get(id) !== transfer) return;
    this.transfers.delete(id);
    if (transfer.timer) clearTimeout(transfer.timer);
    this.client?.unsubscribe(topics.footage(transfer.site, transfer.gateway, id));
    if (footage && !error) {
      transfer.resolve(footage);
      return;
    }
    void transfer.file?.close().catch(() => undefined);
    rmSync(transfer.path, { force: true });
    transfer.reject(error ?? new FootageError('failed', 'the transfer ended without footage'));
  }
}
