import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutboxJournalOptions } from './outbox-journal.js';
import { frameRecord, type Segment, segmentFileName } from './outbox-segment.js';
import { addRange } from './sequence-ranges.js';

interface Pending {
  seq: number;
  frame: Buffer;
  payload: Buffer;
  resolve: () => void;
  reject: (error: Error) => void;
}

type WriterOptions = Required<
  Pick<
    OutboxJournalOptions,
    'dir' | 'log' | 'segmentBytes' | 'maxWaitingBytes' | 'retryMs' | 'now' | 'openFile' | 'syncDir'
  >
> &
  Pick<OutboxJournalOptions, 'onWriteFailed' | 'onWriteRecovered'>;

/** What the writer needs of the journal it writes for. */
export interface WriterHost {
  /** The journal's segments, oldest first: the writer appends to the last, or adds a new one. */
  segments(): Segment[];
  /** `seq` is on disk since `at`, and awaits acknowledgement. */
  track(seq: number, payload: Buffer, at: number): void;
  /** `seq` will never be written: the watermark moves past it. */
  settle(seq: number): void;
  /** Makes `issued` at least `seq`; false (logged) when the disk refuses. */
  keepIssued(seq: number): boolean;
  reportDropped(fromSeq: number, toSeq: number, what: string): void;
  /** A batch is on disk, and may have taken the journal past its hard bound. */
  written(): void;
}

/**
 * The journal's write path: appended records go to the newest segment in batches, each made
 * durable with one fdatasync. While the disk refuses writes they wait in memory, in order, and
 * the write is tried again with backoff.
 */
export class OutboxWriter {
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
  /** Ranges given up while the disk refused writes, reported once it writes again (see giveUp). */
  private readonly unreported: Array<[number, number]> = [];

  constructor(
    private readonly options: WriterOptions,
    private readonly host: WriterHost,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Events appended but not yet on disk (many only while the disk refuses writes). */
  get waiting(): number {
    return this.batch.length;
  }

  /** A segment file is open for writing (until close). */
  get fileOpen(): boolean {
    return this.current !== undefined;
  }

  /** The lowest number given up and not reported yet (infinity when none). */
  lowestUnreported(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const [from] of this.unreported) lowest = Math.min(lowest, from);
    return lowest;
  }

  /** Queues the record for the next batch; resolves once it is on disk. */
  write(seq: number, payload: Buffer): Promise<void> {
    const frame = frameRecord(seq, payload);
    const durable = new Promise<void>((resolve, reject) => {
      this.batch.push({ seq, frame, payload, resolve, reject });
      this.batchBytes += frame.length;
    });
    if (this.failing) this.boundWaiting(this.failing.error);
    this.scheduleFlush();
    return durable;
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

  /** Writes what waits once more, or gives it up, and reports what was given up; the file stays open. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.flush();
    this.reportGivenUp();
  }

  async closeFile(): Promise<void> {
    await this.current?.close();
    this.current = undefined;
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
    for (const p of batch) this.host.track(p.seq, p.payload, now);
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
    this.host.written();
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
    // A report that throws must not keep the retry from being set.
    if (first)
      try {
        this.options.onWriteFailed?.(error, this.batch.length);
      } catch (reportError) {
        this.options.log.error({ err: reportError }, 'outbox: could not report that writing fails');
      }
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
      this.host.settle(p.seq);
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
    this.host.keepIssued(to);
    // Reported once the disk writes again: the report is an event too, and appended while the
    // disk refuses writes it would push the next oldest waiting event out, and so on.
    if (this.failing && !this.closed) {
      // One range per streak as a rule: one event is given up per append at the bound. (A batch
      // put back after a failed retry gives up numbers below those given up meanwhile.)
      addRange(this.unreported, from, to);
    } else this.host.reportDropped(from, to, 'events dropped, never written');
  }

  /** Reports what was given up while the disk refused writes, as few ranges as it makes. */
  private reportGivenUp(): void {
    const merged: Array<[number, number]> = [];
    for (const [from, to] of this.unreported.splice(0).sort((a, b) => a[0] - b[0]))
      addRange(merged, from, to);
    for (const [from, to] of merged) this.host.reportDropped(from, to, 'events dropped, never written');
  }

  private async segmentFor(firstSeq: number): Promise<Segment> {
    const segments = this.host.segments();
    const tail = segments[segments.length - 1];
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
    const path = join(this.options.dir, segmentFileName(firstSeq));
    const handle = await this.options.openFile(path);
    try {
      // The new file's name must survive a power loss too, not only its records: the directory
      // is made durable once per segment, before the first record in it counts as written.
      await this.options.syncDir(this.options.dir);
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
    this.host.segments().push(segment);
    return segment;
  }
}
