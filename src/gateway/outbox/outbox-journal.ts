import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../../lib/logger.js';
import { writeFileAtomic } from '../../lib/state-files.js';
import type { JournalExtent } from '../../protocol/commands.js';
import {
  frameRecord,
  type JournalRecord,
  MAX_NUMBER_JUMP,
  parseRecords,
  readSegment,
} from './outbox-segment.js';

export type { JournalRecord } from './outbox-segment.js';

/**
 * The gateway's crash-safe outbox. Every event is appended here, and made durable with fdatasync
 * in small batches, before it is published; it is marked sent only after the broker acknowledged
 * it, and kept a while longer so that the central side can ask for it again.
 *
 * On disk: segment files `seg-<first seq>.log` of records `[u32 length][u32 crc32][u64 seq][payload]`
 * (big-endian; the CRC covers seq and payload), `acked`, the sequence number up to which
 * everything was acknowledged, and `issued`, the highest number given up unwritten or held by
 * the newest segment when it was removed (each
 * `<number> <crc32 of the number, 8 hex digits>`). After a crash the segments are replayed; a
 * torn or corrupt tail is cut off at the last intact record.
 */
export interface OutboxJournalOptions {
  dir: string;
  log: Logger;
  /** A segment is closed and a new one started beyond this size. */
  segmentBytes?: number;
  /** Acknowledged events stay this long for resends (default 24 h)… */
  keepAckedMs?: number;
  /** …unless they take more than this much space (default 64 MiB). */
  keepAckedBytes?: number;
  /** The hard bound for unacknowledged events (default 256 MiB); beyond it the oldest segment goes. */
  maxUnackedBytes?: number;
  now?: () => number;
  /**
   * Called when events were dropped: forced out at the hard bound, or never written because the
   * disk refused them for longer than `maxWaitingBytes` allows (see `onWriteFailed`).
   */
  onDropped?: (fromSeq: number, toSeq: number) => void;
  /**
   * A write or its fdatasync failed (disk full, I/O error). Nothing is lost yet: the events wait
   * in memory, unpublished, and the write is tried again with backoff, the file first cut back to
   * its last good record. Called once per streak of failures; `onWriteRecovered` ends it.
   */
  onWriteFailed?: (error: Error, waiting: number) => void;
  onWriteRecovered?: () => void;
  /** Bytes of events waiting in memory for a failing disk before the oldest are dropped (16 MiB). */
  maxWaitingBytes?: number;
  /** First and longest wait before a failed write is tried again (1 s, doubling to 30 s). */
  retryMs?: { first: number; longest: number };
  /** Opens segment files (tests put a failing disk here). */
  openFile?: (path: string) => Promise<FileHandle>;
  /** Makes the directory's entries durable (tests put a failing disk here). */
  syncDir?: (dir: string) => Promise<void>;
  /** Deletes a segment file (tests put a failing disk here). */
  removeFile?: (path: string) => void;
}

export interface OutboxPressure {
  records: number;
  bytes: number;
  /** Share of the hard bound in use, 0…1. */
  fraction: number;
  /** Age of the oldest unacknowledged event in ms (0 when none). */
  oldestMs: number;
}

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
  writtenAt: number;
}

type Callbacks = 'onDropped' | 'onWriteFailed' | 'onWriteRecovered';

export class OutboxJournal {
  private readonly options: Required<Omit<OutboxJournalOptions, Callbacks>> &
    Pick<OutboxJournalOptions, Callbacks>;
  private nextSeq = 1;
  private ackedThrough = 0;
  private persistedAck = 0;
  /**
   * The highest number given up unwritten (see giveUp), or the last of the newest segment when it
   * was removed (see prune), as kept in the file `issued`.
   */
  private issued = 0;
  private readonly acked = new Set<number>();
  /** Durable but not yet acknowledged, in sequence order, with the time each became durable. */
  private readonly unacked = new Map<number, { payload: Buffer; at: number }>();
  private unackedBytes = 0;
  private segments: Segment[] = [];
  /** Ranges of numbers found on disk nowhere at start (see passMissing), for the owner to report. */
  readonly recoveryLosses: Array<[number, number]> = [];
  /** Ranges of numbers no record will ever have (see passMissing), in order, for advance(). */
  private readonly passed: Array<[number, number]> = [];
  /** Ranges given up while the disk refused writes, reported once it writes again (see giveUp). */
  private readonly unreported: Array<[number, number]> = [];
  private current: FileHandle | undefined;
  private batch: Pending[] = [];
  /** Bytes of the frames in `batch`. */
  private batchBytes = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /**
   * While writes fail: the last error, and the wait before the next try. The current segment's
   * file may then hold a partial write beyond its good bytes.
   */
  private failing: { error: Error; waitMs: number } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(options: OutboxJournalOptions) {
    this.options = {
      segmentBytes: 4 * 1024 * 1024,
      keepAckedMs: 24 * 3_600_000,
      keepAckedBytes: 64 * 1024 * 1024,
      maxUnackedBytes: 256 * 1024 * 1024,
      maxWaitingBytes: 16 * 1024 * 1024,
      retryMs: { first: 1_000, longest: 30_000 },
      now: Date.now,
      openFile: (path) => open(path, 'a', 0o600),
      syncDir: syncDirectory,
      removeFile: unlinkSync,
      ...options,
    };
  }

  private get dir(): string {
    return this.options.dir;
  }

  /** Reads what survived the last run. Returns the records that still await acknowledgement. */
  recover(): JournalRecord[] {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const acked = this.readNumber('acked');
    // Damaged, it is worked out below from the records; every record held counts as unsent
    // meanwhile, and the watermark on disk as not written (nothing is pruned until it is).
    this.ackedThrough = acked ?? 0;
    this.persistedAck = this.ackedThrough;
    // Numbers given up unwritten (see giveUp) are never used again, whatever the watermark says.
    this.issued = this.readNumber('issued') ?? 0;
    const persisted = Math.max(this.ackedThrough, this.issued);
    // Traces of numbers issued with no record left: `issued`, and the segments' names.
    const traces: Array<[number, string]> = [[this.issued, 'issued']];
    let highestRecord = 0;
    const files = readdirSync(this.dir)
      .map((name) => ({ name, match: SEGMENT_PATTERN.exec(name) }))
      .filter((f) => f.match)
      .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]));
    for (const { name, match } of files) {
      const path = join(this.dir, name);
      // The numbers before a segment's first were issued, whether or not a record of them is
      // left (a segment whose only records were dropped at the bound, a file never written).
      const before = Number(match?.[1]) - 1;
      traces.push([before, name]);
      // Before a torn tail is cut off below, which would make the file look freshly written.
      const writtenAt = statSync(path).mtimeMs;
      const { records, goodBytes, totalBytes, damaged } = readSegment(path);
      if (damaged)
        this.options.log.error(
          { file: name },
          'outbox: damaged records skipped; the records after them are kept',
        );
      if (goodBytes < totalBytes) {
        this.options.log.warn(
          { file: name, droppedBytes: totalBytes - goodBytes },
          'outbox: torn or corrupt tail dropped',
        );
        // Nothing is appended to a recovered segment, so a tail that cannot be cut (a read-only
        // disk) does no harm.
        this.tryOnDisk(() => truncateSync(path, goodBytes), `cut the torn tail of ${name}`);
      }
      if (records.length === 0) {
        // Its name is the one trace of numbers issued before it: kept until the watermark on
        // disk covers them.
        if (before <= persisted) this.removeFile(path);
        continue;
      }
      const first = records[0]?.seq ?? 0;
      const last = records[records.length - 1]?.seq ?? 0;
      this.segments.push({ first, last, path, bytes: goodBytes, writtenAt });
      for (const record of records) {
        highestRecord = Math.max(highestRecord, record.seq);
        // At least as old as its segment's last write: a restart does not make unsent events young.
        if (record.seq > this.ackedThrough) this.track(record.seq, record.payload, writtenAt);
      }
    }
    if (acked === undefined) this.assumeWatermark(traces);
    let highest = Math.max(this.ackedThrough, highestRecord);
    // Far beyond every record and the watermark, a trace is damage (a flipped bit in a name):
    // trusted, it would make the journal pass, and the central side ask for, billions of numbers.
    const plausible = highest + MAX_NUMBER_JUMP;
    for (const [value, source] of traces) {
      if (value <= plausible) highest = Math.max(highest, value);
      else
        this.options.log.error(
          { source, value },
          'outbox: a number far beyond every record ignored as damage',
        );
    }
    this.nextSeq = highest + 1;
    this.passMissing();
    this.prune();
    return this.pending();
  }

  /**
   * The watermark's file was damaged. Segments go only once the watermark on disk covers them, or
   * at the bound with the loss reported, so everything below the oldest record held was settled:
   * the watermark is put just below it, and every record held is published again (the central
   * side keeps the first copy of each event). With no record held, everything issued was settled,
   * and the traces of issued numbers are all there is to go by.
   */
  private assumeWatermark(traces: Array<[number, string]>): void {
    const oldest = this.segments[0]?.first;
    const through = oldest !== undefined ? oldest - 1 : traces.reduce((n, [value]) => Math.max(n, value), 0);
    this.ackedThrough = through;
    this.options.log.error(
      { assumedThrough: through },
      'outbox: the acknowledgement watermark was damaged; every event held is published again',
    );
  }

  /**
   * Numbers between the watermark and the last number issued that no record on disk has (given
   * up, dropped at the bound, damaged) will never be published: the watermark passes them, or it
   * would stop there for good. They are kept for the owner to report (`recoveryLosses`), once it
   * can record events.
   */
  private passMissing(): void {
    const held = [...this.unacked.keys()].sort((a, b) => a - b);
    let expected = this.ackedThrough + 1;
    for (const seq of held) {
      if (seq > expected) this.recoveryLosses.push([expected, seq - 1]);
      expected = seq + 1;
    }
    // Above the last record, numbers issued all the same (given up, or named by a segment).
    if (expected <= this.lastSequence) this.recoveryLosses.push([expected, this.lastSequence]);
    // As ranges (they may be wide): the watermark passes each when it reaches it.
    this.passed.push(...this.recoveryLosses.map(([from, to]): [number, number] => [from, to]));
    this.advance();
  }

  /** Deletes a segment file; false (logged) when the disk refuses, so that it is kept for now. */
  private removeFile(path: string): boolean {
    try {
      this.options.removeFile(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
      this.options.log.error({ err: error, path }, 'outbox: could not remove a segment; kept for now');
      return false;
    }
  }

  /** Runs a file operation whose failure leaves the journal sound, and logs the failure. */
  private tryOnDisk(operation: () => void, what: string): void {
    try {
      operation();
    } catch (error) {
      this.options.log.error({ err: error }, `outbox: could not ${what}`);
    }
  }

  /** Records that are durable and not yet acknowledged, oldest first. */
  pending(): JournalRecord[] {
    return [...this.unacked.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([seq, { payload }]) => ({ seq, payload }));
  }

  get size(): { records: number; bytes: number } {
    return { records: this.unacked.size, bytes: this.unackedBytes };
  }

  /** Events appended but not yet on disk (many only while the disk refuses writes). */
  get waiting(): number {
    return this.batch.length;
  }

  pressure(): OutboxPressure {
    let oldest = Number.POSITIVE_INFINITY;
    for (const { at } of this.unacked.values()) oldest = Math.min(oldest, at);
    return {
      records: this.unacked.size,
      bytes: this.unackedBytes,
      fraction: this.unackedBytes / this.options.maxUnackedBytes,
      oldestMs: Number.isFinite(oldest) ? this.options.now() - oldest : 0,
    };
  }

  get lastSequence(): number {
    return this.nextSeq - 1;
  }

  /** The oldest number still on disk, and the highest issued (for a `gone:` answer). */
  extent(): JournalExtent {
    return { oldestHeld: this.segments[0]?.first, highestIssued: this.lastSequence };
  }

  /**
   * Assigns the next sequence number, lets `build` produce the payload for it, and resolves once
   * the record is on disk.
   */
  append(build: (seq: number) => Buffer): { seq: number; durable: Promise<void> } {
    if (this.closed) throw new Error('outbox journal is closed');
    const seq = this.nextSeq++;
    let payload: Buffer;
    try {
      payload = build(seq);
    } catch (error) {
      // No event has the number: taken back, unless another append took the next one meanwhile
      // (then it is passed over, so that the watermark does not stop at it).
      if (this.nextSeq === seq + 1) this.nextSeq = seq;
      else this.settle(seq);
      throw error;
    }
    const frame = frameRecord(seq, payload);
    const durable = new Promise<void>((resolve, reject) => {
      this.batch.push({ seq, frame, payload, resolve, reject });
      this.batchBytes += frame.length;
    });
    if (this.failing) this.boundWaiting(this.failing.error);
    this.scheduleFlush();
    return { seq, durable };
  }

  /** The broker acknowledged `seq`; it need not be published again. */
  ack(seq: number): void {
    const entry = this.unacked.get(seq);
    if (seq <= this.ackedThrough || !entry) return;
    this.unacked.delete(seq);
    this.unackedBytes -= entry.payload.length;
    this.settle(seq);
  }

  /** `seq` needs no publishing any more (acknowledged, or given up): the watermark moves past it. */
  private settle(seq: number): void {
    this.acked.add(seq);
    this.advance();
  }

  private advance(): void {
    for (;;) {
      if (this.acked.delete(this.ackedThrough + 1)) this.ackedThrough += 1;
      else if (this.passed[0] && this.passed[0][0] <= this.ackedThrough + 1) {
        this.ackedThrough = Math.max(this.ackedThrough, (this.passed.shift() as [number, number])[1]);
      } else return;
    }
  }

  /**
   * Records `fromSeq`…`toSeq` still on disk (for a resend), one segment's at a time, read without
   * blocking: a resend of 100,000 events must not hold up the gateway's doors while it reads.
   */
  async *read(fromSeq: number, toSeq: number): AsyncGenerator<JournalRecord[]> {
    for (const segment of [...this.segments]) {
      if (segment.last < fromSeq || segment.first > toSeq) continue;
      let data: Buffer;
      try {
        data = await readFile(segment.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned meanwhile
        throw error;
      }
      const records = parseRecords(data).records.filter((r) => r.seq >= fromSeq && r.seq <= toSeq);
      if (records.length > 0) yield records;
    }
  }

  /** Writes the acknowledgement watermark and removes segments no longer needed. */
  checkpoint(): void {
    // Not past numbers given up and not reported yet: after a crash, recovery finds them missing
    // and they are reported then.
    let lowest = Number.POSITIVE_INFINITY;
    for (const [from] of this.unreported) lowest = Math.min(lowest, from);
    const through = Math.min(this.ackedThrough, lowest - 1);
    if (through > this.persistedAck) {
      try {
        this.writeNumber('acked', through);
        this.persistedAck = through;
      } catch (error) {
        // A full disk: the watermark stays behind (a restart sends a few events again, which the
        // central side absorbs) and is written at a later checkpoint.
        this.options.log.error({ err: error }, 'outbox: could not write the acknowledgement watermark');
      }
    }
    this.prune();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.flush();
    this.reportGivenUp();
    this.checkpoint();
    await this.current?.close();
    this.current = undefined;
  }

  /**
   * Waits until everything appended so far is durable, or until writing has failed: then what
   * waits is written by the retries, or given up by close().
   */
  async flush(): Promise<void> {
    while (this.flushing || (this.batch.length > 0 && !(this.failing && !this.closed))) {
      if (!this.flushing) this.scheduleFlush();
      await this.flushing;
    }
  }

  private track(seq: number, payload: Buffer, at: number): void {
    this.unacked.set(seq, { payload, at });
    this.unackedBytes += payload.length;
  }

  private scheduleFlush(): void {
    // While writes fail, the retry timer writes next (or close(), once).
    if (this.flushing || (this.failing && !this.closed)) return;
    // A turn of the event loop first, so that what is appended in the same turn goes in one batch.
    this.startWrite(new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** Writes the waiting batch once `after` resolves; what came meanwhile is written next. */
  private startWrite(after: Promise<void>): void {
    this.flushing = after
      .then(() => this.writeBatch())
      .finally(() => {
        this.flushing = undefined;
        if (this.batch.length > 0) this.scheduleFlush();
      });
  }

  private async writeBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    if (batch.length === 0) return;
    const frames = batch.map((p) => p.frame);
    let segment: Segment;
    try {
      segment = await this.segmentFor(batch[0]?.seq ?? 0);
      const handle = this.current as FileHandle;
      // A failed write may have left part of a record behind: cut back to the last good one, so
      // that nothing written next sits behind it (recovery stops at the first bad record).
      if (this.failing) await handle.truncate(segment.bytes);
      await handle.writev(frames);
      await handle.datasync();
    } catch (error) {
      this.writeFailed(batch, error as Error);
      return;
    }
    // Durable from here: nothing below may send the batch down the failure path (a callback
    // that throws once the journal is closed would have it given up, though it is on disk).
    const now = this.options.now();
    segment.bytes += frames.reduce((n, f) => n + f.length, 0);
    segment.last = batch[batch.length - 1]?.seq ?? segment.last;
    segment.writtenAt = now;
    for (const p of batch) this.track(p.seq, p.payload, now);
    for (const p of batch) p.resolve();
    if (this.failing) {
      this.failing = undefined;
      this.options.log.info('outbox: writing again');
      try {
        this.options.onWriteRecovered?.();
      } catch (error) {
        this.options.log.error({ err: error }, 'outbox: could not report that writing works again');
      }
      this.reportGivenUp();
    }
    if (this.unackedBytes > this.options.maxUnackedBytes) this.prune();
  }

  /**
   * Keeps the batch, in order, ahead of what came since, and tries again later; when closing
   * there is no later, and beyond `maxWaitingBytes` the oldest waiting events are given up.
   */
  private writeFailed(batch: Pending[], error: Error): void {
    if (this.closed) {
      this.options.log.error({ err: error }, 'outbox: write failed while closing; events not written');
      this.giveUp(batch, error);
      return;
    }
    const first = !this.failing;
    const waitMs = this.failing
      ? Math.min(this.failing.waitMs * 2, this.options.retryMs.longest)
      : this.options.retryMs.first;
    this.failing = { error, waitMs };
    this.batch = [...batch, ...this.batch];
    this.batchBytes += batch.reduce((n, p) => n + p.frame.length, 0);
    this.boundWaiting(error);
    this.options.log.error(
      { err: error, waiting: this.batch.length, retryMs: waitMs },
      'outbox: write failed; events wait in memory, unpublished, and the write is tried again',
    );
    if (first) this.options.onWriteFailed?.(error, this.batch.length);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed && !this.flushing) this.startWrite(Promise.resolve());
    }, waitMs);
  }

  /** Beyond `maxWaitingBytes` waiting in memory, the oldest waiting events are given up. */
  private boundWaiting(error: Error): void {
    // Counted as the batch changes: summing it here made every append while the disk refused
    // writes cost as much as everything waiting.
    const dropped: Pending[] = [];
    while (this.batchBytes > this.options.maxWaitingBytes && this.batch.length > 1) {
      const oldest = this.batch.shift() as Pending;
      this.batchBytes -= oldest.frame.length;
      dropped.push(oldest);
    }
    if (dropped.length > 0) this.giveUp(dropped, error);
  }

  /**
   * Events that will never be written: their numbers are passed over and never used again (the
   * highest is kept in `issued`, as far as the disk lets it be written), and the loss reported.
   */
  private giveUp(lost: Pending[], error: Error): void {
    for (const p of lost) {
      this.settle(p.seq);
      p.reject(error);
    }
    // A loop, not Math.min(...): a streak can give up more numbers than a call takes arguments.
    let from = Number.POSITIVE_INFINITY;
    let to = 0;
    for (const p of lost) {
      from = Math.min(from, p.seq);
      to = Math.max(to, p.seq);
    }
    // Should the disk refuse this too, these numbers may be used again after a restart, and the
    // central side then refuses the new events as replays, with an alarm.
    this.keepIssued(to);
    // Reported once the disk writes again: the report is an event too, and appended while the
    // disk refuses writes it would push the next oldest waiting event out, and so on.
    if (this.failing && !this.closed) {
      // One range per streak as a rule: one event is given up per append at the bound. (A batch
      // put back after a failed retry gives up numbers below those given up meanwhile.)
      addRange(this.unreported, from, to);
    } else this.reportDropped(from, to, 'events dropped, never written');
  }

  /** Makes `issued` at least `seq`; false (logged) when the disk refuses. */
  private keepIssued(seq: number): boolean {
    if (seq <= this.issued) return true;
    try {
      this.writeNumber('issued', seq);
      this.issued = seq;
      return true;
    } catch (error) {
      this.options.log.error({ err: error, seq }, 'outbox: could not keep the highest number issued');
      return false;
    }
  }

  /** Reports what was given up while the disk refused writes, as few ranges as it makes. */
  private reportGivenUp(): void {
    const merged: Array<[number, number]> = [];
    for (const [from, to] of this.unreported.splice(0).sort((a, b) => a[0] - b[0]))
      addRange(merged, from, to);
    for (const [from, to] of merged) this.reportDropped(from, to, 'events dropped, never written');
  }

  private reportDropped(fromSeq: number, toSeq: number, what: string): void {
    this.options.log.error({ fromSeq, toSeq }, `outbox: ${what}`);
    try {
      this.options.onDropped?.(fromSeq, toSeq);
    } catch (reportError) {
      // Reporting records an event, which a closed journal refuses: the log line above stays.
      this.options.log.error({ err: reportError }, 'outbox: could not report the dropped events');
    }
  }

  private async segmentFor(firstSeq: number): Promise<Segment> {
    const tail = this.segments[this.segments.length - 1];
    if (tail && this.current && tail.bytes === 0) {
      // Opened for a write that failed: still the place for this batch (a second segment of the
      // same name would be pruned as empty, and take this one's file with it).
      tail.first = firstSeq;
      tail.last = firstSeq - 1;
      return tail;
    }
    if (tail && this.current && tail.bytes < this.options.segmentBytes) return tail;
    await this.current?.close();
    this.current = undefined;
    const path = join(this.dir, `seg-${String(firstSeq).padStart(16, '0')}.log`);
    const handle = await this.options.openFile(path);
    try {
      // The new file's name must survive a power loss too, not only its records: the directory
      // is made durable once per segment, before the first record in it counts as written.
      await this.options.syncDir(this.dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    this.current = handle;
    const segment: Segment = {
      first: firstSeq,
      last: firstSeq - 1,
      path,
      bytes: 0,
      writtenAt: this.options.now(),
    };
    this.segments.push(segment);
    return segment;
  }

  /**
   * Fully acknowledged segments go once older than keepAckedMs or beyond keepAckedBytes. Beyond
   * the hard bound for unacknowledged events the oldest segment goes even unacknowledged: the
   * loss is reported, and the central side sees the gap.
   */
  private prune(): void {
    const now = this.options.now();
    const tail = this.segments[this.segments.length - 1];
    const removable = (s: Segment) => s.last <= this.persistedAck && (s !== tail || !this.current);
    let keptBytes = this.segments.filter(removable).reduce((n, s) => n + s.bytes, 0);
    this.segments = this.segments.filter((segment) => {
      if (!removable(segment)) return true;
      if (now - segment.writtenAt <= this.options.keepAckedMs && keptBytes <= this.options.keepAckedBytes)
        return true;
      // The newest segment is the numbering's trace beside the watermark: should `acked` be
      // damaged later, recovery numbers on from `issued` rather than from 1.
      if (segment === tail && !this.keepIssued(segment.last)) return true;
      if (!this.removeFile(segment.path)) return true; // tried again at the next checkpoint
      keptBytes -= segment.bytes;
      return false;
    });
    while (this.unackedBytes > this.options.maxUnackedBytes && this.segments.length > 1) {
      const oldest = this.segments[0] as Segment;
      // The file first: while it stays, so do its events. (Its numbers are not issued again even
      // if a crash comes before the watermark is written: the next segment's name says so.)
      if (!this.removeFile(oldest.path)) break;
      this.segments.shift();
      // What is lost: the segment's events not yet acknowledged, in runs of consecutive numbers
      // (the others were delivered).
      const runs: Array<[number, number]> = [];
      for (let seq = oldest.first; seq <= oldest.last; seq++) {
        const entry = this.unacked.get(seq);
        if (entry) {
          this.unacked.delete(seq);
          this.unackedBytes -= entry.payload.length;
          addRange(runs, seq, seq);
        }
        this.acked.delete(seq);
      }
      this.ackedThrough = Math.max(this.ackedThrough, oldest.last);
      this.advance();
      for (const [from, to] of runs)
        this.reportDropped(from, to, 'full: oldest unacknowledged events dropped');
    }
  }

  /**
   * `acked` (the watermark) or `issued` (the highest number given up): 0 when not written yet,
   * undefined (logged) when damaged. A bit flipped in the watermark would otherwise pass records
   * never acknowledged, which would then be neither published nor reported.
   */
  private readNumber(name: NumberFile): number | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0; // nothing acknowledged or given up yet
      this.options.log.error({ err: error, file: name }, 'outbox: could not read a number file');
      return undefined;
    }
    const value = readChecked(text);
    if (value === undefined)
      this.options.log.error({ file: name, content: text.slice(0, 40) }, 'outbox: number file damaged');
    return value;
  }

  private writeNumber(name: NumberFile, value: number): void {
    writeFileAtomic(join(this.dir, name), `${value} ${numberCheck(value)}\n`);
  }
}

type NumberFile = 'acked' | 'issued';

function numberCheck(value: number): string {
  return crc32(String(value)).toString(16).padStart(8, '0');
}

/**
 * A number file's value, or undefined when its checksum does not hold. A bare number is what
 * gateways before the checksum wrote, and is taken as it is.
 */
function readChecked(text: string): number | undefined {
  const match = /^(\d{1,16})(?: ([0-9a-f]{8}))?\n$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  if (!Number.isSafeInteger(value)) return undefined;
  if (match[2] !== undefined && match[2] !== numberCheck(value)) return undefined;
  return value;
}

/** Adds from…to to ranges, joined to the last one where they overlap or touch. */
function addRange(ranges: Array<[number, number]>, from: number, to: number): void {
  const last = ranges.at(-1);
  if (last && from <= last[1] + 1 && to >= last[0] - 1) {
    last[0] = Math.min(last[0], from);
    last[1] = Math.max(last[1], to);
  } else ranges.push([from, to]);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
