import { Transform, type TransformCallback } from 'node:stream';

/**
 * PostgreSQL's CSV (COPY … FORMAT csv, no header) turned into JSON lines, one object per record
 * with `columns` as keys in order. Converting here runs on another core than the PostgreSQL
 * backend writing the CSV, where encoding JSON in SQL (`row_to_json`) took four times as long as
 * the CSV itself and ran in series with everything else.
 *
 * CSV as PostgreSQL writes it: fields separated by commas; a field with a comma, quote, CR or LF
 * is quoted with `"` and inner quotes doubled; NULL is an empty unquoted field, an empty string
 * is `""`. Numeric columns are written as JSON numbers.
 */
export class CsvToJsonl extends Transform {
  /** The start of a record not yet complete, kept for the next chunk. */
  private pending: Buffer = Buffer.alloc(0);
  /** Each column's `{"key":` or `,"key":` as bytes. */
  private readonly keys: Buffer[];
  private readonly numeric: boolean[];
  /** The most a record's JSON adds to its CSV: every key, quotes or `null` per field, `}\n`. */
  private readonly overhead: number;
  /** Records converted so far. */
  records = 0;

  constructor(
    private readonly columns: readonly string[],
    numericColumns: ReadonlySet<string>,
    /** Told how many records each chunk held (progress), so nobody counts lines again. */
    private readonly onRecords?: (records: number) => void,
  ) {
    super();
    this.keys = columns.map((c, i) => Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(c)}:`));
    this.numeric = columns.map((c) => numericColumns.has(c));
    this.overhead = this.keys.reduce((n, key) => n + key.length + 4, 2);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      const before = this.records;
      const input = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
      // A copy, so the rest does not keep the whole chunk alive.
      this.pending = Buffer.from(input.subarray(this.convert(input)));
      this.onRecords?.(this.records - before);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      const before = this.records;
      const rest = this.pending;
      this.pending = Buffer.alloc(0);
      if (rest.length > 0) {
        // PostgreSQL ends every record with a line feed: what is left was cut off, and can be
        // read as a record only if no quoted field is left open.
        if (quotesIn(rest, 0, rest.length) % 2 === 1)
          throw new Error('the export data ends inside a quoted field');
        this.convert(Buffer.concat([rest, LINE_FEED]));
      }
      this.onRecords?.(this.records - before);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  /**
   * Pushes the JSON of every complete record in `input`; returns where the incomplete rest
   * begins. Records are converted byte by byte into one output buffer, without strings: fields
   * that need no unquoting or escaping (the common case) are copied as they are; a record with
   * a quote, backslash or control character, or the wrong number of fields, is decoded and
   * converted by `object` instead.
   */
  private convert(input: Buffer): number {
    const { keys, numeric, overhead } = this;
    const last = keys.length - 1;
    const n = input.length;
    let out = Buffer.allocUnsafe(2 * n + 64 * overhead);
    let o = 0;
    let start = 0;
    while (start < n) {
      if (out.length - o < overhead + (n - start)) {
        if (o > 0) this.push(out.subarray(0, o));
        out = Buffer.allocUnsafe(2 * (n - start) + 64 * overhead);
        o = 0;
      }
      const mark = o;
      let p = start;
      let field = 0;
      let plain = true;
      let cut = false; // the record goes on in the next chunk
      for (;;) {
        const key = keys[field] as Buffer;
        for (let k = 0; k < key.length; k += 1) out[o++] = key[k] as number;
        const quoted = !numeric[field];
        if (quoted) out[o++] = 34;
        const from = p;
        let b = -1;
        while (p < n) {
          b = input[p] as number;
          if (b === 44 || b === 10) break;
          if (b === 34 || b === 92 || b < 32) {
            plain = false;
            break;
          }
          out[o++] = b;
          p += 1;
        }
        if (p === n) cut = true;
        if (!plain || cut) break;
        if (p === from) {
          // An empty unquoted field is NULL.
          if (quoted) o -= 1;
          out[o++] = 110; // n
          out[o++] = 117; // u
          out[o++] = 108; // l
          out[o++] = 108; // l
        } else if (quoted) out[o++] = 34;
        p += 1;
        if ((b === 10) !== (field === last)) {
          plain = false; // the wrong number of fields; `object` says so
          break;
        }
        if (b === 10) break;
        field += 1;
      }
      if (plain && cut) {
        o = mark;
        break;
      }
      if (plain) {
        out[o++] = 125; // }
        out[o++] = 10;
        this.records += 1;
        start = p;
        continue;
      }
      o = mark;
      const end = recordEnd(input, start);
      if (end === -1) break;
      const line = input.toString('utf8', start, end);
      const json = line.includes('"')
        ? this.object(parseQuoted(line), false)
        : this.object(line.split(','), true);
      const bytes = Buffer.byteLength(json);
      if (out.length - o < bytes) {
        if (o > 0) this.push(out.subarray(0, o));
        out = Buffer.allocUnsafe(bytes + 2 * (n - end) + 64 * overhead);
        o = 0;
      }
      o += out.write(json, o);
      this.records += 1;
      start = end + 1;
    }
    if (o > 0) this.push(out.subarray(0, o));
    return start;
  }

  /**
   * Fields as parsed: `null` for NULL. From a plain split every field was unquoted, so an empty
   * one is NULL too; `parseQuoted` has told NULL from a quoted empty string already.
   */
  private object(fields: Array<string | null>, split: boolean): string {
    if (fields.length !== this.columns.length) {
      throw new Error(
        `an export record has ${fields.length} fields where ${this.columns.length} were expected`,
      );
    }
    let line = '';
    for (let i = 0; i < fields.length; i += 1) {
      const raw = fields[i] ?? null;
      const value = split && raw === '' ? null : raw;
      // Numbers as PostgreSQL wrote them (bigint text is a JSON number, and exact beyond 2^53).
      line +=
        (this.keys[i] as Buffer).toString() +
        (value === null
          ? 'null'
          : this.numeric[i]
            ? value
            : NEEDS_ESCAPE.test(value)
              ? JSON.stringify(value)
              : `"${value}"`);
    }
    return `${line}}\n`;
  }
}

const LINE_FEED = Buffer.from('\n');

/** Where the record starting at `start` ends (its line feed), quoted line breaks included; -1: not in `input` yet. */
function recordEnd(input: Buffer, start: number): number {
  let end = input.indexOf(10, start);
  while (end !== -1 && quotesIn(input, start, end) % 2 === 1) end = input.indexOf(10, end + 1);
  return end;
}

function quotesIn(input: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = input.indexOf(34, from); i !== -1 && i < to; i = input.indexOf(34, i + 1)) n += 1;
  return n;
}

/** Characters a JSON string must escape. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
/** One record with quoted fields; a quoted empty field is an empty string, not NULL. */
function parseQuoted(line: string): Array<string | null> {
  const fields: Array<string | null> = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q === -1) throw new Error('an export record has an unterminated quoted field');
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      const raw = comma === -1 ? line.slice(i) : line.slice(i, comma);
      fields.push(raw === '' ? null : raw);
      i = comma === -1 ? line.length : comma;
    }
    if (i >= line.length) break;
    if (line[i] !== ',') throw new Error('an export record has text after a quoted field');
    i += 1;
    if (i === line.length) {
      fields.push(null);
      break;
    }
  }
  return fields;
}
