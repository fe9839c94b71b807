import { Readable, Transform, type TransformCallback } from 'node:stream';

/** Where, in each record of the export's COPY, the fields the content file repeats sit. */
export interface SplitLayout {
  /** The data file's columns, first in every record. */
  rowFields: number;
  /** Among them, the row's event id and chain link number. */
  eventId: number;
  chainNo: number;
}

/** A record whose content says its row was changed: what names it. */
export interface ChangedRow {
  site: string;
  no: string;
  id: string;
}

const COMMA = 0x2c;
const QUOTE = 0x22;
const LINE_FEED = 0x0a;
const ERASED = Buffer.from('erased');
/** Output is handed on in blocks of about this size: COPY's chunks are small and many. */
const BLOCK = 65_536;

/**
 * Splits the export's one COPY (CSV as PostgreSQL writes it: `rowFields` columns of the data
 * file, then state, chain site and content, bundle-content.ts) into the data file's CSV, passed
 * on as this stream's output, and the content file's records (`state,site,no,event_id,content`),
 * read from `content`. Fields are copied as PostgreSQL quoted them, so both files are byte for
 * byte what a COPY of their own would write. A row without a chain link has no content record.
 *
 * It also reads each record's state: `erased` is counted, any other fails the stream with
 * `changed`'s error. When `content`'s reader falls behind, the split waits for it, so memory
 * stays flat whichever file is written slower.
 */
export class ContentSplitter extends Transform {
  readonly content: Readable;
  /** Rows an erasure listed whose content differs from their link; the caller must accept them. */
  erased = 0;
  private readonly fields: number;
  private readonly starts: Int32Array;
  private readonly ends: Int32Array;
  private pending: Buffer = Buffer.alloc(0);
  private readonly rows = new Blocks((block) => this.push(block));
  private readonly records = new Blocks((block) => this.pushContent(block));
  /** False from a push that found `content`'s buffer full until its reader asks for more. */
  private contentWanted = true;
  /** The write held back meanwhile. */
  private held: TransformCallback | undefined;

  constructor(
    private readonly layout: SplitLayout,
    contentHeader: string,
    private readonly changed: (row: ChangedRow) => Error,
    /** Written first to the data file (its CSV header), if any. */
    rowsHeader?: string,
  ) {
    super();
    this.fields = layout.rowFields + 3;
    this.starts = new Int32Array(this.fields);
    this.ends = new Int32Array(this.fields);
    this.content = new Readable({
      read: () => this.contentRead(),
      // The data file's stream fails with the content file's, or its writer would wait forever.
      destroy: (error, done) => {
        if (error) this.destroy(error);
        done(error);
      },
    });
    if (rowsHeader !== undefined) this.rows.text(`${rowsHeader}\n`);
    this.records.text(`${contentHeader}\n`);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      const input = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
      // A copy, so the rest does not keep the whole chunk alive.
      this.pending = Buffer.from(input.subarray(this.split(input)));
    } catch (error) {
      done(error as Error);
      return;
    }
    if (this.contentWanted) done();
    else this.held = done;
  }

  override _flush(done: TransformCallback): void {
    // PostgreSQL ends every record with a line feed: anything left was cut off.
    if (this.pending.length > 0) {
      done(new Error('the export data ends inside a record'));
      return;
    }
    this.rows.handOn();
    this.records.handOn();
    this.content.push(null);
    done();
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    if (error) this.content.destroy(error);
    done(error);
  }

  /**
   * `content`'s reader asks for more: a write held back for it goes on. It must be answered with
   * a push (a full block, or the rest at the end), or it asks no more.
   */
  private contentRead(): void {
    this.contentWanted = true;
    const held = this.held;
    this.held = undefined;
    held?.();
  }

  private pushContent(block: Buffer): void {
    this.contentWanted = false; // before the push, in case its reader asks again within it
    if (this.content.push(block)) this.contentWanted = true;
  }

  /** Splits every complete record in `input`; returns where the incomplete rest begins. */
  private split(input: Buffer): number {
    const { starts, ends, fields } = this;
    const n = input.length;
    let start = 0;
    while (start < n) {
      let p = start;
      for (let f = 0; f < fields; f += 1) {
        starts[f] = p;
        if (p < n && input[p] === QUOTE) {
          p += 1;
          for (;;) {
            if (p + 1 >= n) return start; // the closing quote, or a doubled one, is in the next chunk
            if (input[p] === QUOTE) {
              if (input[p + 1] !== QUOTE) break;
              p += 1;
            }
            p += 1;
          }
          p += 1;
        } else {
          while (p < n && input[p] !== COMMA && input[p] !== LINE_FEED) p += 1;
          if (p === n) return start;
        }
        ends[f] = p;
        if (input[p] !== (f === fields - 1 ? LINE_FEED : COMMA))
          throw new Error(`an export record does not have the ${fields} fields expected`);
        p += 1;
      }
      this.splitRecord(input, start, p);
      start = p;
    }
    return start;
  }

  /** One complete record, `input[start, end)`, its fields at `starts`/`ends`. */
  private splitRecord(input: Buffer, start: number, end: number): void {
    const { starts, ends, layout, rows, records } = this;
    const state = layout.rowFields;
    const content = state + 2;
    const rowEnd = ends[state - 1] as number;
    rows.reserve(rowEnd - start + 1);
    rows.copy(input, start, rowEnd);
    rows.byte(LINE_FEED);
    if (starts[content] === ends[content]) return; // NULL: the row has no chain link
    if (ends[state] !== starts[state]) {
      if (!input.subarray(starts[state], ends[state]).equals(ERASED)) throw this.changed(this.named(input));
      this.erased += 1;
    }
    // `state,site,` as they stand, then the row's link number and event id, then the content.
    records.reserve(end - start);
    records.copy(input, starts[state] as number, starts[content] as number);
    records.copy(input, starts[layout.chainNo] as number, ends[layout.chainNo] as number);
    records.byte(COMMA);
    records.copy(input, starts[layout.eventId] as number, ends[layout.eventId] as number);
    records.byte(COMMA);
    records.copy(input, starts[content] as number, end);
  }

  private named(input: Buffer): ChangedRow {
    const { starts, ends, layout } = this;
    const field = (f: number) => unquote(input.toString('utf8', starts[f], ends[f]));
    return { site: field(layout.rowFields + 1), no: field(layout.chainNo), id: field(layout.eventId) };
  }
}

/** Output gathered in blocks of about 64 KiB, each handed on when the next bytes do not fit. */
class Blocks {
  private buffer = Buffer.allocUnsafe(BLOCK);
  private at = 0;

  constructor(private readonly hand: (block: Buffer) => void) {}

  /** Room for `bytes` more, in this block or a new one. */
  reserve(bytes: number): void {
    if (this.buffer.length - this.at >= bytes) return;
    this.handOn();
    if (this.buffer.length < bytes) this.buffer = Buffer.allocUnsafe(bytes);
  }

  copy(source: Buffer, from: number, to: number): void {
    this.at += source.copy(this.buffer, this.at, from, to);
  }

  byte(value: number): void {
    this.buffer[this.at++] = value;
  }

  text(value: string): void {
    this.reserve(Buffer.byteLength(value));
    this.at += this.buffer.write(value, this.at);
  }

  handOn(): void {
    if (this.at === 0) return;
    const block = this.buffer.subarray(0, this.at);
    this.buffer = Buffer.allocUnsafe(BLOCK);
    this.at = 0;
    this.hand(block);
  }
}

function unquote(field: string): string {
  return field.startsWith('"') ? field.slice(1, -1).replaceAll('""', '"') : field;
}
