import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../lib/logger.js';

/**
 * The gateway's crash-safe outbox. Every event is appended here, and made durable with fdatasync
 * in small batches, before it is published; it is forgotten only after the broker acknowledged it.
 *
 * On disk: segment files `seg-<first seq>.log` of records `[u32 length][u32 crc32][u64 seq][payload]`
 * (big-endian; the CRC covers seq and payload), and `acked`, the highest sequence number below
 * which everything was acknowledged. After a crash the segments are replayed; a torn or corrupt
 * tail is cut off at the last intact record.
 */
export interface JournalRecord {
  seq: number;
  payload: Buffer;
}

export interface OutboxJournalOptions {
  dir: string;
  log: Logger;
  /** A segment is closed and a new one started beyond this size. */
  segmentBytes?: number;
}

const HEADER_BYTES = 16;
const SEGMENT_PATTERN = /^seg-(\d{16})\.log$/;

interface Pending {
  seq: number;
  frame: Buffer;
  payload: Buffer;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Segment {
  first: number;
  last: number;
  path: string;
  bytes: number;
}

export class OutboxJournal {
  private readonly dir: string;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private nextSeq = 1;
  private ackedThrough = 0;
  private persistedAck = 0;
  private readonly acked = new Set<number>();
  /** Durable but not yet acknowledged, in sequence order. */
  private readonly unacked = new Map<number, Buffer>();
  private segments: Segment[] = [];
  private current: FileHandle | undefined;
  private batch: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(options: OutboxJournalOptions) {
    this.dir = options.dir;
    this.log = options.log;
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
  }

  /** Reads what survived the last run. Returns the records that still await acknowledgement. */
  recover(): JournalRecord[] {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.ackedThrough = this.readAcked();
    this.persistedAck = this.ackedThrough;
    let highest = this.ackedThrough;
    const files = readdirSync(this.dir)
      .map((name) => ({ name, match: SEGMENT_PATTERN.exec(name) }))
      .filter((f) => f.match)
      .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]));
    for (const { name } of files) {
      const path = join(this.dir, name);
      const { records, goodBytes, totalBytes } = readSegment(path);
      if (goodBytes < totalBytes) {
        this.log.warn(
          { file: name, droppedBytes: totalBytes - goodBytes },
          'outbox: torn or corrupt tail dropped',
        );
        truncateSync(path, goodBytes);
      }
      if (records.length === 0) {
        unlinkSync(path);
        continue;
      }
      const first = records[0]?.seq ?? 0;
      const last = records[records.length - 1]?.seq ?? 0;
      this.segments.push({ first, last, path, bytes: goodBytes });
      for (const record of records) {
        highest = Math.max(highest, record.seq);
        if (record.seq > this.ackedThrough) this.unacked.set(record.seq, record.payload);
      }
    }
    this.nextSeq = highest + 1;
    this.dropAckedSegments();
    return this.pending();
  }

  /** Records that are durable and not yet acknowledged, oldest first. */
  pending(): JournalRecord[] {
    return [...this.unacked.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([seq, payload]) => ({ seq, payload }));
  }

  get size(): { records: number; bytes: number } {
    let bytes = 0;
    for (const payload of this.unacked.values()) bytes += payload.length;
    return { records: this.unacked.size, bytes };
  }

  get lastSequence(): number {
    return this.nextSeq - 1;
  }

  /**
   * Assigns the next sequence number, lets `build` produce the payload for it, and resolves once
   * the record is on disk.
   */
  append(build: (seq: number) => Buffer): { seq: number; durable: Promise<void> } {
    if (this.closed) throw new Error('outbox journal is closed');
    const seq = this.nextSeq++;
    const payload = build(seq);
    const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    frame.writeUInt32BE(payload.length, 0);
    frame.writeBigUInt64BE(BigInt(seq), 8);
    payload.copy(frame, HEADER_BYTES);
    frame.writeUInt32BE(crc32(frame.subarray(8)), 4);
    const durable = new Promise<void>((resolve, reject) => {
      this.batch.push({ seq, frame, payload, resolve, reject });
    });
    this.scheduleFlush();
    return { seq, durable };
  }

  /** The broker acknowledged `seq`; it need not be kept any longer. */
  ack(seq: number): void {
    if (seq <= this.ackedThrough || !this.unacked.has(seq)) return;
    this.unacked.delete(seq);
    this.acked.add(seq);
    while (this.acked.has(this.ackedThrough + 1)) {
      this.acked.delete(this.ackedThrough + 1);
      this.ackedThrough += 1;
    }
  }

  /** Writes the acknowledgement watermark and removes segments that hold nothing unacknowledged. */
  checkpoint(): void {
    if (this.ackedThrough === this.persistedAck) return;
    const tmp = join(this.dir, 'acked.tmp');
    writeFileSync(tmp, `${this.ackedThrough}\n`, { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, 'acked'));
    this.persistedAck = this.ackedThrough;
    this.dropAckedSegments();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.checkpoint();
    await this.current?.close();
    this.current = undefined;
  }

  /** Waits until everything appended so far is durable. */
  async flush(): Promise<void> {
    while (this.flushing || this.batch.length > 0) {
      if (!this.flushing) this.scheduleFlush();
      await this.flushing;
    }
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.writeBatch())
      .finally(() => {
        this.flushing = undefined;
        if (this.batch.length > 0) this.scheduleFlush();
      });
  }

  private async writeBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    try {
      const segment = await this.segmentFor(batch[0]?.seq ?? 0);
      const handle = this.current as FileHandle;
      const frames = batch.map((p) => p.frame);
      await handle.writev(frames);
      await handle.datasync();
      const written = frames.reduce((n, f) => n + f.length, 0);
      segment.bytes += written;
      segment.last = batch[batch.length - 1]?.seq ?? segment.last;
      for (const p of batch) this.unacked.set(p.seq, p.payload);
      for (const p of batch) p.resolve();
    } catch (error) {
      this.log.error({ err: error }, 'outbox: write failed');
      for (const p of batch) p.reject(error as Error);
    }
  }

  private async segmentFor(firstSeq: number): Promise<Segment> {
    const tail = this.segments[this.segments.length - 1];
    if (tail && this.current && tail.bytes < this.segmentBytes) return tail;
    await this.current?.close();
    const path = join(this.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    this.current = await open(path, 'a', 0o600);
    const segment: Segment = { first: firstSeq, last: firstSeq - 1, path, bytes: 0 };
    this.segments.push(segment);
    return segment;
  }

  private dropAckedSegments(): void {
    const tail = this.segments[this.segments.length - 1];
    this.segments = this.segments.filter((segment) => {
      const removable = segment.last <= this.persistedAck && (segment !== tail || !this.current);
      if (removable) unlinkSync(segment.path);
      return !removable;
    });
  }

  private readAcked(): number {
    try {
      const value = Number.parseInt(readFileSync(join(this.dir, 'acked'), 'utf8'), 10);
      return Number.isSafeInteger(value) && value >= 0 ? value : 0;
    } catch {
      return 0;
    }
  }
}

function readSegment(path: string): { records: JournalRecord[]; goodBytes: number; totalBytes: number } {
  const data = readFileSync(path);
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= data.length) {
    const length = data.readUInt32BE(offset);
    const end = offset + HEADER_BYTES + length;
    if (end > data.length) break;
    if (crc32(data.subarray(offset + 8, end)) !== data.readUInt32BE(offset + 4)) break;
    const seq = Number(data.readBigUInt64BE(offset + 8));
    records.push({ seq, payload: Buffer.from(data.subarray(offset + HEADER_BYTES, end)) });
    offset = end;
  }
  return { records, goodBytes: offset, totalBytes: statSync(path).size };
}
