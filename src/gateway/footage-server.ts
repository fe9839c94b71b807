import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock, TimerHandle } from '../lib/clock.js';
import { CodedError } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import {
  checkFootageRequest,
  FOOTAGE_CHUNK_BYTES,
  type FootageRequest,
  type FootageStatus,
  gatewayTransferKey,
  sealFootageChunk,
  signFootageHead,
  type UnsignedFootageHead,
} from '../protocol/footage-transfer.js';
import type { CentralKeys } from '../protocol/signing.js';
import { topics } from '../protocol/topics.js';
import type { Recorder } from './recorder/recorder.js';
import { RecorderErrorCode } from './recorder/recorder-errors.js';

/**
 * Answers the central side's footage requests (docs/video.md, playback): verifies each (central
 * signature, addressee, validity, not seen before), decrypts the footage here — the day keys
 * never leave the gateway — and sends it encrypted to the request's one-time key, in chunks,
 * after a head signed with the gateway's identity key. One request is served at a time, so
 * playback cannot starve recording of CPU or disk. Forged requests raise an alarm.
 */
export interface FootageServerOptions {
  site: string;
  gateway: string;
  /** The central key that signs footage requests; during a rotation of it, the old and the new one. */
  centralKey: CentralKeys | undefined;
  identityKey: KeyObject;
  recorder: () => Recorder | undefined;
  publish(topic: string, payload: Buffer): Promise<void>;
  alarms: AlarmBook;
  clock: Clock;
  log: Logger;
}

/** Longest time range one request may ask for; the dashboard asks for less (docs/video.md). */
export const MAX_FOOTAGE_RANGE_MS = 60 * 60_000;
/** Chunks published and not yet acknowledged by the broker at once. */
const WINDOW = 4;
/** The longest wait for the broker to acknowledge one of the chunks in flight. */
const ACK_WAIT_MS = 30_000;

interface Footage {
  bytes: number;
  sha256: string;
  contentType: string;
  fromMs?: number;
  toMs?: number;
  open(): Promise<Readable>;
  release(): void;
}

export class FootageServer {
  private readonly seen = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: FootageServerOptions) {}

  handle(payload: Buffer, retained: boolean): void {
    const { centralKey, clock, site, gateway, log } = this.options;
    if (payload.length === 0) return;
    if (retained) {
      this.alarm('a retained message arrived on the footage request topic; requests are never retained');
      return;
    }
    if (!centralKey) {
      log.warn('footage request refused: no central key configured (central.publicKey)');
      return;
    }
    const checked = checkFootageRequest(payload, centralKey, { site, gateway }, clock.now());
    if (!checked.ok) {
      log.warn({ reason: checked.reason, detail: checked.detail }, 'footage request refused');
      if (checked.reason !== 'expired' && checked.reason !== 'not-yet-valid')
        this.alarm(`footage request ${checked.reason}: ${checked.detail}`);
      if (checked.id) this.enqueue(() => this.answer(checked.id as string, 'rejected', checked.reason));
      return;
    }
    const request = checked.request;
    this.forgetExpired();
    if (this.seen.has(request.id)) {
      log.warn({ request: request.id }, 'footage request refused: replayed');
      this.alarm(`replayed footage request ${request.id}`);
      return;
    }
    this.seen.set(request.id, Date.parse(request.expiresAt) + 60_000);
    this.enqueue(() => this.serve(request));
  }

  /** Resolves when every request received so far has been answered (tests, orderly stop). */
  idle(): Promise<void> {
    return this.queue;
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue
      .then(job)
      .catch((error: Error) => this.options.log.error({ err: error }, 'footage answer failed'));
  }

  private async serve(request: FootageRequest): Promise<void> {
    const { log } = this.options;
    let footage: Footage;
    try {
      footage = await this.find(request);
    } catch (error) {
      const status: FootageStatus = notFound(error)
        ? 'not-found'
        : error instanceof CodedError && error.code === 'IDG_VIDEO_BAD_RANGE'
          ? 'rejected'
          : 'failed';
      if (status === 'failed') log.error({ err: error, request: request.id }, 'footage request failed');
      await this.answer(request.id, status, (error as Error).message);
      return;
    }
    try {
      const oneTime = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const key = gatewayTransferKey(request.epk, request.id, oneTime);
      const chunks = Math.max(1, Math.ceil(footage.bytes / FOOTAGE_CHUNK_BYTES));
      await this.answer(request.id, 'ok', undefined, {
        contentType: footage.contentType,
        bytes: footage.bytes,
        chunkSize: FOOTAGE_CHUNK_BYTES,
        sha256: footage.sha256,
        epk: key.epk,
        ...(footage.fromMs !== undefined ? { from: new Date(footage.fromMs).toISOString() } : {}),
        ...(footage.toMs !== undefined ? { to: new Date(footage.toMs).toISOString() } : {}),
      });
      const topic = topics.footage(this.options.site, this.options.gateway, request.id);
      const pieces = rechunk(await footage.open(), FOOTAGE_CHUNK_BYTES);
      await this.sendChunks(topic, pieces, (index, plain) =>
        sealFootageChunk(key, index, plain, index === chunks - 1),
      );
      if (footage.bytes === 0)
        await this.options.publish(topic, sealFootageChunk(key, 0, Buffer.alloc(0), true));
      log.info({ request: request.id, bytes: footage.bytes, chunks }, 'footage sent');
    } catch (error) {
      // The head said "ok": a second, signed head tells the dashboard to stop waiting.
      log.error({ err: error, request: request.id }, 'footage transfer failed');
      await this.answer(request.id, 'failed', (error as Error).message);
    } finally {
      footage.release();
    }
  }

  /**
   * Publishes the sealed chunks with at most WINDOW unacknowledged. Every publish gets its
   * handler when it starts: after the connection drops, each new one fails at once, and a
   * rejection nobody listens to would end the gateway (doors included). The first failure stops
   * the loop and is thrown; the publishes still in flight are not waited for (MQTT.js keeps
   * them until a reconnect or the end of the connection), and no wait for an acknowledgement
   * lasts longer than ACK_WAIT_MS, so one transfer cannot hold up the requests behind it.
   */
  private async sendChunks(
    topic: string,
    pieces: AsyncIterable<Buffer>,
    seal: (index: number, plain: Buffer) => Buffer,
  ): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: Error | undefined;
    const fail = (error: unknown) => {
      failure ??= error instanceof Error ? error : new Error(String(error));
    };
    const settledOrLate = async () => {
      let timer: TimerHandle | undefined;
      const late = new Promise<void>((resolve) => {
        timer = this.options.clock.setTimeout(() => {
          fail(new Error(`the broker acknowledged no footage chunk within ${ACK_WAIT_MS / 1000} s`));
          resolve();
        }, ACK_WAIT_MS);
      });
      await Promise.race([...inFlight, late]);
      timer?.cancel();
    };
    let index = 0;
    for await (const plain of pieces) {
      if (failure) break;
      const sealed = seal(index, plain);
      const sent: Promise<void> = Promise.resolve()
        .then(() => this.options.publish(topic, sealed))
        .then(() => undefined, fail)
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      index += 1;
      if (inFlight.size >= WINDOW) await settledOrLate();
      if (failure) break;
    }
    while (inFlight.size > 0 && !failure) await settledOrLate();
    if (failure) throw failure;
  }

  private async find(request: FootageRequest): Promise<Footage> {
    const recorder = this.options.recorder();
    if (!recorder) throw new CodedError(RecorderErrorCode.notRunning, 'this gateway records no cameras');
    const { what } = request;
    if (what.kind === 'range') {
      const fromMs = Date.parse(what.from);
      const toMs = Date.parse(what.to);
      if (toMs <= fromMs || toMs - fromMs > MAX_FOOTAGE_RANGE_MS)
        throw new CodedError(
          'IDG_VIDEO_BAD_RANGE',
          `the range ${what.from} – ${what.to} is empty or too long`,
        );
      const file = await recorder.playback(what.camera, fromMs, toMs);
      try {
        return {
          bytes: file.bytes,
          sha256: await sha256Of(createReadStream(file.path)),
          contentType: file.contentType,
          fromMs: file.fromMs,
          toMs: file.toMs,
          open: async () => createReadStream(file.path, { highWaterMark: FOOTAGE_CHUNK_BYTES }),
          release: () => file.release(),
        };
      } catch (error) {
        file.release();
        throw error;
      }
    }
    const stored = recorder.footageFile(what.file);
    if (!stored) throw new CodedError(RecorderErrorCode.noFootage, `no footage ${what.file} on this gateway`);
    return {
      bytes: stored.plainBytes,
      sha256: stored.sha256,
      contentType: stored.kind === 'snapshot' ? 'image/jpeg' : 'video/mp4',
      fromMs: stored.startMs,
      toMs: stored.endMs,
      open: async () => (await recorder.openFootage(what.file)).stream,
      release: () => undefined,
    };
  }

  private async answer(
    request: string,
    status: FootageStatus,
    reason?: string,
    fields: Partial<UnsignedFootageHead> = {},
  ): Promise<void> {
    const { site, gateway, identityKey } = this.options;
    const head = signFootageHead(
      { request, site, gateway, status, ...(reason ? { reason: reason.slice(0, 500) } : {}), ...fields },
      identityKey,
    );
    await this.options.publish(topics.footage(site, gateway, request), head);
  }

  private forgetExpired(): void {
    const now = this.options.clock.now();
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
  }

  private alarm(detail: string): void {
    this.options.alarms.notify({
      alarm: 'command-rejected',
      key: `command-rejected:${this.options.clock.now()}`,
      severity: 'critical',
      detail: detail.slice(0, 500),
    });
  }
}

function notFound(error: unknown): boolean {
  if (!(error instanceof CodedError)) return false;
  return (
    error.code === RecorderErrorCode.noFootage ||
    error.code === RecorderErrorCode.unknownCamera ||
    error.code === RecorderErrorCode.keyMissing ||
    error.code === RecorderErrorCode.notRunning
  );
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of stream) hash.update(piece as Buffer);
  return hash.digest('hex');
}

/** Re-cuts a stream into pieces of exactly `size` bytes (the last one may be shorter). */
async function* rechunk(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const piece of stream) {
    pending.push(piece as Buffer);
    length += (piece as Buffer).length;
    while (length >= size) {
      const joined = Buffer.concat(pending);
      yield joined.subarray(0, size);
      const rest = joined.subarray(size);
      pending = rest.length > 0 ? [rest] : [];
      length = rest.length;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}
