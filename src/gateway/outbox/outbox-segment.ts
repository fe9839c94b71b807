import { readFileSync, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/**
 * The outbox's on-disk record format: `[u32 length][u32 crc32][u64 seq][payload]`, big-endian;
 * the CRC covers seq and payload. A segment file is a run of them in sequence order.
 */
export interface JournalRecord {
  seq: number;
  payload: Buffer;
}

export const HEADER_BYTES = 16;
/** No event comes near this; a larger length is damage. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;
/**
 * How far beyond every record and the watermark a trace of issued numbers (a segment's name,
 * `issued`) may lie before it is taken for damage: numbers given up in one failing streak, far
 * more than a gateway records in months.
 */
export const MAX_NUMBER_JUMP = 2 ** 24;
const MAX_RECORD_JUMP = 2n ** 32n;

/** A segment file is named for the first number it was opened for: `seg-<16 digits>.log`. */
export const SEGMENT_PATTERN = /^seg-(\d{16})\.log$/;

export function segmentFileName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(16, '0')}.log`;
}

/** A segment file as the journal keeps track of it. */
export interface Segment {
  first: number;
  last: number;
  path: string;
  bytes: number;
  writtenAt: number;
}

/** A record's frame as it goes to disk. */
export function frameRecord(seq: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeBigUInt64BE(BigInt(seq), 8);
  payload.copy(frame, HEADER_BYTES);
  frame.writeUInt32BE(crc32(frame.subarray(8)), 4);
  return frame;
}

export interface ParsedSegment {
  records: JournalRecord[];
  /** Where the last intact record ends: what follows is a torn tail (or nothing). */
  goodBytes: number;
  /** Bytes between intact records were skipped: damage inside the file, not a torn tail. */
  damaged: boolean;
}

/**
 * The intact records in a segment's bytes. A record whose checksum fails is skipped, and the scan
 * goes on at the next offset where a whole record with a matching checksum and a higher number
 * begins: a damaged sector inside a file (an SD card) costs the records in it, not every record
 * after it. A crash only tears the last records, which were never durable.
 */
export function parseRecords(data: Buffer): ParsedSegment {
  const records: JournalRecord[] = [];
  let offset = 0;
  let goodBytes = 0;
  let damaged = false;
  let lastSeq = 0;
  while (offset + HEADER_BYTES <= data.length) {
    const end = intactRecordEnd(data, offset, lastSeq);
    if (end === undefined) {
      offset += 1;
      continue;
    }
    if (offset > goodBytes) damaged = true;
    lastSeq = Number(data.readBigUInt64BE(offset + 8));
    records.push({ seq: lastSeq, payload: Buffer.from(data.subarray(offset + HEADER_BYTES, end)) });
    offset = end;
    goodBytes = end;
  }
  return { records, goodBytes, damaged };
}

/**
 * Where the record at `offset` ends, if a whole one with a matching checksum and a number above
 * `after` starts there. The cheap checks come first and bound the work: while resynchronising,
 * most offsets fail them, and a checksum is taken over at most 1 MiB. A number may lie up to
 * 2^32 above the record before it (a gateway numbers far fewer events in its life).
 */
function intactRecordEnd(data: Buffer, offset: number, after: number): number | undefined {
  const length = data.readUInt32BE(offset);
  const end = offset + HEADER_BYTES + length;
  if (length > MAX_PAYLOAD_BYTES || end > data.length) return undefined;
  const seq = data.readBigUInt64BE(offset + 8);
  // The first record of a file may have any number (a journal far along, or whose watermark
  // file says so); the ones after it lie near it.
  const limit = after === 0 ? BigInt(Number.MAX_SAFE_INTEGER) : BigInt(after) + MAX_RECORD_JUMP;
  if (seq <= BigInt(after) || seq > limit) return undefined;
  if (crc32(data.subarray(offset + 8, end)) !== data.readUInt32BE(offset + 4)) return undefined;
  return end;
}

export function readSegment(path: string): ParsedSegment & { totalBytes: number } {
  return { ...parseRecords(readFileSync(path)), totalBytes: statSync(path).size };
}
