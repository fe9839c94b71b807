import { unlinkSync } from 'node:fs';
import { type FileHandle, open, readFile } from 'node:fs/promises';
import type { Logger } from '../../lib/logger.js';
import type { JournalExtent } from '../../protocol/commands.js';
import { writeNumber } from './outbox-number-file.js';
import { recoverJournal } from './outbox-recovery.js';
import { type JournalRecord, parseRecords, type Segment } from './outbox-segment.js';
import { OutboxWriter } from './outbox-writer.js';
import { addRange } from './sequence-ranges.js';

export type { JournalRecord } from './outbox-segment.js';

/**
 * The gateway's crash-safe outbox. Every event is appended here, and made durable with fdatasync
 * in small batches, before it is published; it is marked sent only after the broker acknowledged
 * it, and kept a while longer so that the central side can ask for it again.
 *
 * On disk: segment files `seg-<first seq, 16 digits, leading zeros>.log` of records
 * `[u32 length][u32 crc32][u64 seq][payload]` (big-endian; the CRC covers seq and payload), and
 * the number files `acked` and `issued` (see outbox-number-file.ts). After a crash the segments
 * are replayed (outbox-recovery.ts); a torn or corrupt tail is cut off at the last intact record.
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

type Callbacks = 'onDropped' | 'onWriteFailed' | 'onWriteRecovered';

export class OutboxJournal {
  private readonly options: Required<Omit<OutboxJournalOptions, Callbacks>> &
    Pick<OutboxJournalOptions, Callbacks>;
  private nextSeq = 1;
  private ackedThrough = 0;
  private persistedAck = 0;
  /**
   * The highest number given up unwritten (see OutboxWriter.giveUp), or the last of the newest
   * segment when it was removed (see prune), as kept in the file `issued`.
   */
  private issued = 0;
  private readonly acked = new Set<number>();
  /** Durable but not yet acknowledged, in sequence order, with the time each became durable. */
  private readonly unacked = new Map<number, { payload: Buffer; at: number }>();
  private unackedBytes = 0;
  private segments: Segment[] = [];
  /**
   * Ranges of numbers found on disk nowhere at start (see missingNumbers in outbox-recovery), for
   * the owner to report.
   */
  readonly recoveryLosses: Array<[number, number]> = [];
  /** Ranges of numbers no record will ever have (see recoveryLosses), in order, for advance(). */
  private readonly passed: Array<[number, number]> = [];
  private readonly writer: OutboxWriter;

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
    this.writer = new OutboxWriter(this.options, {
      segments: () => this.segments,
      track: (seq, payload, at) => this.track(seq, payload, at),
      settle: (seq) => this.settle(seq),
      keepIssued: (seq) => this.keepIssued(seq),
      reportDropped: (fromSeq, toSeq, what) => this.reportDropped(fromSeq, toSeq, what),
      written: () => {
        if (this.unackedBytes > this.options.maxUnackedBytes) this.prune();
      },
    });
  }

  /** Reads what survived the last run. Returns the records that still await acknowledgement. */
  recover(): JournalRecord[] {
    const found = recoverJournal(this.options.dir, this.options.log, (path) => this.removeFile(path));
    this.ackedThrough = found.ackedThrough;
    this.persistedAck = found.persistedAck;
    this.issued = found.issued;
    this.segments.push(...found.segments);
    for (const { seq, payload, at } of found.unacked) this.track(seq, payload, at);
    this.nextSeq = found.lastSequence + 1;
    this.recoveryLosses.push(...found.missing);
    // As ranges (they may be wide): the watermark passes each when it reaches it.
    this.passed.push(...this.recoveryLosses.map(([from, to]): [number, number] => [from, to]));
    this.advance();
    this.prune();
    return this.pending();
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
    return this.writer.waiting;
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
    if (this.writer.isClosed) throw new Error('outbox journal is closed');
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
    return { seq, durable: this.writer.write(seq, payload) };
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
    const through = Math.min(this.ackedThrough, this.writer.lowestUnreported() - 1);
    if (through > this.persistedAck) {
      try {
        writeNumber(this.options.dir, 'acked', through);
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
    await this.writer.close();
    this.checkpoint();
    await this.writer.closeFile();
  }

  /**
   * Waits until everything appended so far is durable, or until writing has failed (see
   * OutboxWriter.flush).
   */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  private track(seq: number, payload: Buffer, at: number): void {
    // A number found in two segments at start (damage) is held, and counted, once: the first.
    if (this.unacked.has(seq)) return;
    this.unacked.set(seq, { payload, at });
    this.unackedBytes += payload.length;
  }

  /** Makes `issued` at least `seq`; false (logged) when the disk refuses. */
  private keepIssued(seq: number): boolean {
    if (seq <= this.issued) return true;
    try {
      writeNumber(this.options.dir, 'issued', seq);
      this.issued = seq;
      return true;
    } catch (error) {
      this.options.log.error({ err: error, seq }, 'outbox: could not keep the highest number issued');
      return false;
    }
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

  /**
   * Fully acknowledged segments go once older than keepAckedMs or beyond keepAckedBytes. Beyond
   * the hard bound for unacknowledged events the oldest segment goes even unacknowledged: the
   * loss is reported, and the central side sees the gap.
   */
  private prune(): void {
    const now = this.options.now();
    const tail = this.segments[this.segments.length - 1];
    const removable = (s: Segment) => s.last <= this.persistedAck && (s !== tail || !this.writer.fileOpen);
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
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
