import { mkdirSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { readNumber } from './outbox-number-file.js';
import {
  type JournalRecord,
  MAX_NUMBER_JUMP,
  readSegment,
  SEGMENT_PATTERN,
  type Segment,
} from './outbox-segment.js';

/** What survived the last run, for the journal to take over. */
export interface RecoveredJournal {
  /** The acknowledgement watermark: from `acked`, or assumed when that file was damaged. */
  ackedThrough: number;
  /** The watermark as on disk; 0 when `acked` was damaged. */
  persistedAck: number;
  /** From the file `issued`. */
  issued: number;
  /** The segments that still hold records, oldest first. */
  segments: Segment[];
  /** Records above the watermark on disk, each with its segment's last write as its time. */
  unacked: Array<JournalRecord & { at: number }>;
  /** The highest number issued. */
  lastSequence: number;
  /** Ranges of numbers found on disk nowhere (see missingNumbers). */
  missing: Array<[number, number]>;
}

/**
 * Reads the journal's directory at start: the number files, then every segment, a torn or corrupt
 * tail cut off at the last intact record. `removeFile` deletes a segment left with no record, and
 * is false when the disk refuses.
 */
export function recoverJournal(
  dir: string,
  log: Logger,
  removeFile: (path: string) => boolean,
): RecoveredJournal {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const acked = readNumber(dir, 'acked', log);
  // Damaged, it is worked out below from the records; every record held counts as unsent
  // meanwhile, and the watermark on disk as not written (nothing is pruned until it is).
  let ackedThrough = acked ?? 0;
  const persistedAck = ackedThrough;
  // Numbers given up unwritten (see OutboxWriter.giveUp) are never used again, whatever the
  // watermark says.
  const issued = readNumber(dir, 'issued', log) ?? 0;
  const persisted = Math.max(ackedThrough, issued);
  // Traces of numbers issued with no record left: `issued`, and the segments' names.
  const traces: Array<[number, string]> = [[issued, 'issued']];
  const segments: Segment[] = [];
  const unacked: RecoveredJournal['unacked'] = [];
  let highestRecord = 0;
  for (const { name, firstInName } of segmentFiles(dir)) {
    const path = join(dir, name);
    // The numbers before a segment's first were issued, whether or not a record of them is
    // left (a segment whose only records were dropped at the bound, a file never written).
    const before = firstInName - 1;
    traces.push([before, name]);
    const { records, goodBytes, writtenAt } = readIntact(path, name, log);
    if (records.length === 0) {
      // Its name is the one trace of numbers issued before it: kept until the watermark on
      // disk covers them.
      if (before <= persisted) removeFile(path);
      continue;
    }
    const first = records[0]?.seq ?? 0;
    const last = records[records.length - 1]?.seq ?? 0;
    segments.push({ first, last, path, bytes: goodBytes, writtenAt });
    for (const record of records) {
      highestRecord = Math.max(highestRecord, record.seq);
      // At least as old as its segment's last write: a restart does not make unsent events young.
      if (record.seq > ackedThrough) unacked.push({ ...record, at: writtenAt });
    }
  }
  if (acked === undefined) ackedThrough = assumeWatermark(segments, traces, log);
  const lastSequence = highestTrusted(Math.max(ackedThrough, highestRecord), traces, log);
  const held = unacked.map((r) => r.seq);
  const missing = missingNumbers(held, ackedThrough, lastSequence);
  return { ackedThrough, persistedAck, issued, segments, unacked, lastSequence, missing };
}

/** The segment files in the directory, by the first number in their names. */
function segmentFiles(dir: string): Array<{ name: string; firstInName: number }> {
  return readdirSync(dir)
    .map((name) => ({ name, match: SEGMENT_PATTERN.exec(name) }))
    .filter((f) => f.match)
    .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]))
    .map(({ name, match }) => ({ name, firstInName: Number(match?.[1]) }));
}

/** A segment's intact records, the damage logged and a torn tail cut off. */
function readIntact(
  path: string,
  name: string,
  log: Logger,
): { records: JournalRecord[]; goodBytes: number; writtenAt: number } {
  // Before a torn tail is cut off below, which would make the file look freshly written.
  const writtenAt = statSync(path).mtimeMs;
  const { records, goodBytes, totalBytes, damaged } = readSegment(path);
  if (damaged) log.error({ file: name }, 'outbox: damaged records skipped; the records after them are kept');
  if (goodBytes < totalBytes) {
    log.warn({ file: name, droppedBytes: totalBytes - goodBytes }, 'outbox: torn or corrupt tail dropped');
    // Nothing is appended to a recovered segment, so a tail that cannot be cut (a read-only
    // disk) does no harm.
    tryOnDisk(log, () => truncateSync(path, goodBytes), `cut the torn tail of ${name}`);
  }
  return { records, goodBytes, writtenAt };
}

/** Runs a file operation whose failure leaves the journal sound, and logs the failure. */
function tryOnDisk(log: Logger, operation: () => void, what: string): void {
  try {
    operation();
  } catch (error) {
    log.error({ err: error }, `outbox: could not ${what}`);
  }
}

/**
 * The watermark's file was damaged. Segments go only once the watermark on disk covers them, or
 * at the bound with the loss reported, so everything below the oldest record held was settled:
 * the watermark is put just below it, and every record held is published again (the central
 * side keeps the first copy of each event). With no record held, everything issued was settled,
 * and the traces of issued numbers are all there is to go by.
 */
function assumeWatermark(segments: Segment[], traces: Array<[number, string]>, log: Logger): number {
  const oldest = segments[0]?.first;
  const through = oldest !== undefined ? oldest - 1 : traces.reduce((n, [value]) => Math.max(n, value), 0);
  log.error(
    { assumedThrough: through },
    'outbox: the acknowledgement watermark was damaged; every event held is published again',
  );
  return through;
}

/** The highest number issued: `highest`, or a trace above it that is not damage. */
function highestTrusted(highest: number, traces: Array<[number, string]>, log: Logger): number {
  // Far beyond every record and the watermark, a trace is damage (a flipped bit in a name):
  // trusted, it would make the journal pass, and the central side ask for, billions of numbers.
  const plausible = highest + MAX_NUMBER_JUMP;
  let trusted = highest;
  for (const [value, source] of traces) {
    if (value <= plausible) trusted = Math.max(trusted, value);
    else log.error({ source, value }, 'outbox: a number far beyond every record ignored as damage');
  }
  return trusted;
}

/**
 * Numbers between the watermark and the last number issued that no record on disk has (given
 * up, dropped at the bound, damaged) will never be published: the watermark passes them, or it
 * would stop there for good. They are kept for the owner to report (`recoveryLosses`), once it
 * can record events.
 */
function missingNumbers(held: number[], ackedThrough: number, lastSequence: number): Array<[number, number]> {
  const missing: Array<[number, number]> = [];
  let expected = ackedThrough + 1;
  for (const seq of [...held].sort((a, b) => a - b)) {
    if (seq > expected) missing.push([expected, seq - 1]);
    expected = seq + 1;
  }
  // Above the last record, numbers issued all the same (given up, or named by a segment).
  if (expected <= lastSequence) missing.push([expected, lastSequence]);
  return missing;
}
