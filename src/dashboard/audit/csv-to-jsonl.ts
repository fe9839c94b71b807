import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

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
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private readonly keys: string[];
  private readonly numeric: boolean[];
  /** Records converted so far. */
  records = 0;
  /** Whether the text being drained holds nothing any field would need escaped. */
  private clean = false;

  constructor(
    private readonly columns: readonly string[],
    numericColumns: ReadonlySet<string>,
    /** Told how many records each chunk held (progress), so nobody counts lines again. */
    private readonly onRecords?: (records: number) => void,
  ) {
    super();
    this.keys = columns.map((c, i) => `${i === 0 ? '{' : ','}${JSON.stringify(c)}:`);
    this.numeric = columns.map((c) => numericColumns.has(c));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.pending += this.decoder.write(chunk);
      const before = this.records;
      const out = this.drain(false);
      if (out) this.push(out);
      this.onRecords?.(this.records - before);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.pending += this.decoder.end();
      const before = this.records;
      const out = this.drain(true);
      if (out) this.push(out);
      this.onRecords?.(this.records - before);
      if (this.pending.length > 0) throw new Error('the export data ends inside a quoted field');
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  /** Converts every complete record in `pending`; keeps a partial last one for the next chunk. */
  private drain(final: boolean): string {
    let out = '';
    let start = 0;
    const text = this.pending;
    // One scan of the whole text: without quotes, backslashes or control characters no field
    // needs escaping or CSV unquoting, and every record is a plain split.
    this.clean = !CHUNK_NEEDS_ESCAPE.test(text);
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      let line = text.slice(start, end);
      let next = end + 1;
      if (!this.clean && line.includes('"')) {
        // A quoted field may hold line breaks: extend the record until its quotes balance.
        let recordEnd = end;
        while (quoteCount(text, start, recordEnd) % 2 === 1) {
          const more = text.indexOf('\n', recordEnd + 1);
          if (more === -1) {
            this.pending = text.slice(start);
            return out;
          }
          recordEnd = more;
        }
        line = text.slice(start, recordEnd);
        next = recordEnd + 1;
        out += this.object(parseQuoted(line), false);
      } else if (this.clean) {
        out += this.plain(line);
      } else {
        out += this.object(line.split(','), true);
      }
      this.records += 1;
      start = next;
    }
    this.pending = text.slice(start);
    if (final && this.pending.length > 0 && !this.pending.includes('"')) {
      out += this.object(this.pending.split(','), true);
      this.records += 1;
      this.pending = '';
    }
    return out;
  }

  /** A record in text that needs no escaping anywhere: split, quote, done. */
  private plain(line: string): string {
    const fields = line.split(',');
    const { keys, numeric } = this;
    if (fields.length !== keys.length) return this.object(fields, true); // says what is wrong
    let out = '';
    for (let i = 0; i < fields.length; i += 1) {
      const value = fields[i] as string;
      out += keys[i];
      if (value === '') out += 'null';
      else if (numeric[i]) out += value;
      else out += `"${value}"`;
    }
    return `${out}}\n`;
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
      // Numbers as PostgreSQL wrote them (bigint text is a JSON number, and exact beyond 2^53);
      // strings that need no escaping, the common case, without JSON.stringify.
      line +=
        this.keys[i] +
        (value === null
          ? 'null'
          : this.numeric[i]
            ? value
            : this.clean || !NEEDS_ESCAPE.test(value)
              ? `"${value}"`
              : JSON.stringify(value));
    }
    return `${line}}\n`;
  }
}

/** Characters a JSON string must escape. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;
/** The same, but line feeds (which end records) allowed: a chunk without any needs no checks per field. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON must escape
const CHUNK_NEEDS_ESCAPE = /["\\\u0000-\u0009\u000b-\u001f]/;

function quoteCount(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('"', from); i !== -1 && i < to; i = text.indexOf('"', i + 1)) n += 1;
  return n;
}

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
