import { createReadStream } from 'node:fs';

/**
 * The records of a bundle's CSV file (the data file, `chain.csv`, `chain-content.csv`), read as
 * a stream. CSV as PostgreSQL's COPY writes it (RFC 4180): a field with a comma, quote, CR or LF
 * is quoted and its quotes doubled, so one record may span several lines; a record ends at LF
 * (or CRLF, or a lone CR) outside quotes. Reading line by line would split a free-text field
 * (an event's `reason`) that holds a line break. Blank lines are skipped.
 *
 * A file that is not such CSV (it ends inside a quoted field, has text after a closing quote or
 * a quote inside an unquoted field) throws CsvFormatError naming the record: the verifier
 * reports it, it does not guess.
 */
export class CsvFormatError extends Error {}

/** Longer than any record an export writes (an event is at most a broker message): refused, not held. */
export const MAX_FIELD_CHARS = 16 * 1024 * 1024;

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

// Where the reader stands between two characters.
/** Before a field's first character. */
const FIELD_START = 0;
const PLAIN = 1;
const QUOTED = 2;
/** A quote inside a quoted field: its end, or the first of a doubled one. */
const QUOTE_IN_QUOTED = 3;
/** Right after a CR that ended a record: an LF here belongs to it. */
const AFTER_CR = 4;

export async function* csvRecords(chunks: AsyncIterable<string>): AsyncGenerator<string[]> {
  let fields: string[] = [];
  let field = '';
  let at: number = FIELD_START;
  let records = 0;
  const fail = (what: string) => new CsvFormatError(`record ${records + 1} ${what}`);
  for await (const chunk of chunks) {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (at === AFTER_CR) {
        if (chunk.charCodeAt(i) === LF) i += 1;
        at = FIELD_START;
        continue;
      }
      if (at === FIELD_START && fields.length === 0) {
        // The common record: whole in this chunk, with no quote or CR, split at once.
        const lf = chunk.indexOf('\n', i);
        if (lf !== -1) {
          const line = chunk.slice(i, lf);
          if (!line.includes('"') && !line.includes('\r')) {
            i = lf + 1;
            if (line.length === 0) continue; // a blank line
            records += 1;
            yield line.split(',');
            continue;
          }
        }
      }
      if (at === FIELD_START) {
        const c = chunk.charCodeAt(i);
        if (c === QUOTE) {
          at = QUOTED;
          i += 1;
        } else if ((c === LF || c === CR) && fields.length === 0) {
          at = c === CR ? AFTER_CR : FIELD_START; // a blank line
          i += 1;
        } else at = PLAIN;
        continue;
      }
      if (at === QUOTED) {
        const q = chunk.indexOf('"', i);
        field += chunk.slice(i, q === -1 ? n : q);
        if (field.length > MAX_FIELD_CHARS)
          throw fail(`has a field longer than ${MAX_FIELD_CHARS} characters`);
        if (q === -1) i = n;
        else {
          i = q + 1;
          at = QUOTE_IN_QUOTED;
        }
        continue;
      }
      let c: number;
      if (at === PLAIN) {
        let j = i;
        for (; j < n; j += 1) {
          c = chunk.charCodeAt(j);
          if (c === COMMA || c === LF || c === CR || c === QUOTE) break;
        }
        field += chunk.slice(i, j);
        if (field.length > MAX_FIELD_CHARS)
          throw fail(`has a field longer than ${MAX_FIELD_CHARS} characters`);
        i = j;
        if (j === n) continue;
        c = chunk.charCodeAt(j);
        if (c === QUOTE) throw fail('has a quote inside an unquoted field');
      } else {
        // QUOTE_IN_QUOTED
        c = chunk.charCodeAt(i);
        if (c === QUOTE) {
          field += '"';
          i += 1;
          at = QUOTED;
          continue;
        }
        if (c !== COMMA && c !== LF && c !== CR) throw fail('has text after the closing quote of a field');
      }
      // The field ends at `c`: a comma, or the record's end.
      fields.push(field);
      field = '';
      i += 1;
      if (c === COMMA) {
        at = FIELD_START;
        continue;
      }
      at = c === CR ? AFTER_CR : FIELD_START;
      records += 1;
      const record = fields;
      fields = [];
      yield record;
    }
  }
  if (at === QUOTED) throw fail('is cut off inside a quoted field (the file ends there)');
  // The last record without a line break after it.
  if (at === PLAIN || at === QUOTE_IN_QUOTED || (at === FIELD_START && fields.length > 0)) {
    fields.push(field);
    yield fields;
  }
}

/**
 * The records of a CSV file, decoded as UTF-8 (a character split between chunks is joined). The
 * file is opened at the first record asked for and closed when the reading ends or is returned.
 */
export async function* csvFileRecords(path: string): AsyncGenerator<string[]> {
  yield* csvRecords(createReadStream(path, { encoding: 'utf8' }) as AsyncIterable<string>);
}
