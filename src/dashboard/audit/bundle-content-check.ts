import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CONTENT_FILE, CONTENT_HEADER } from './bundle-content.js';
import { CsvFormatError, csvFileRecords } from './csv-records.js';

/**
 * `export verify`'s check of each chained row's content (bundle-content.ts writes the file): the
 * text must hash to the digest of the row's chain link, and the event read out of it must be the
 * row: id, time, site, gateway, sequence, kind, door, person, and what the export takes from the
 * event's data (badge, direction, reason, and the reader and decision derived from them). The
 * row's `room` and `clip` come from other tables and are not in the chained content.
 *
 * The content file lists the chained rows in the data file's order, so it is read beside the rows,
 * one record per chained row: memory stays flat.
 */
export interface ContentCount {
  /** Rows whose text hashes to their link's digest, and agrees with their columns. */
  rechecked: number;
  /**
   * Rows an erasure rewrote (listed in `erased_chain_rows`, marked `erased` by the exporter): their
   * text is as the erasure left them, so it cannot hash to the digest made before; their columns
   * were still checked against it.
   */
  erased: number;
}

/** What the chain's text for an event holds (`identgate_event_digest_text`, migration 35). */
export interface ChainedEvent {
  id: string;
  micros: number;
  site: string;
  gateway: string;
  seq: number;
  kind: string;
  door: string | null;
  person: string | null;
  data: Record<string, unknown> | null;
}

const text = (v: unknown) => typeof v === 'string';
const textOrNull = (v: unknown) => v === null || typeof v === 'string';

/** The event in a content text, or undefined where the text is not one. */
export function parseEventContent(content: string): ChainedEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 12 || value[0] !== 'event') return undefined;
  const [, id, micros, , site, gateway, seq, kind, door, person, data] = value as unknown[];
  const dataOk = data === null || (typeof data === 'object' && !Array.isArray(data));
  if (!text(id) || !text(site) || !text(gateway) || !text(kind) || !textOrNull(door) || !textOrNull(person))
    return undefined;
  if (!Number.isSafeInteger(micros) || !Number.isSafeInteger(seq) || !dataOk) return undefined;
  return {
    id: id as string,
    micros: micros as number,
    site: site as string,
    gateway: gateway as string,
    seq: seq as number,
    kind: kind as string,
    door: door as string | null,
    person: person as string | null,
    data: data as Record<string, unknown> | null,
  };
}

/** Microseconds since the epoch as the export's `when` column writes them (UTC, six decimals). */
export function microsToWhen(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  return `${new Date(ms).toISOString().slice(0, 23)}${String(rest).padStart(3, '0')}Z`;
}

/**
 * What `data ->> key` gives for a JSON value: a string as it is, null for none. Other values are
 * rendered as jsonb renders them, except that a number is read as JavaScript reads it (1.50 gives
 * 1.5); the event schemas allow only strings for badge, direction and reason.
 */
function jsonbText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  return jsonbRender(value);
}

function jsonbRender(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbRender).join(', ')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${jsonbRender(v)}`)
      .join(', ')}}`;
  return JSON.stringify(value);
}

const DECISIONS: Record<string, string> = { 'access.granted': 'granted', 'access.denied': 'denied' };

/** The exported columns the chained content determines, as export-query.ts derives them. */
export function chainedColumns(event: ChainedEvent): Record<string, string | null> {
  const field = (key: string) => jsonbText(event.data?.[key]);
  const direction = field('direction');
  const hasDirection = event.data !== null && Object.hasOwn(event.data, 'direction');
  return {
    when: microsToWhen(event.micros),
    site: event.site,
    door: event.door,
    reader: hasDirection && event.door !== null && direction !== null ? `${event.door}/${direction}` : null,
    direction,
    person: event.person,
    badge: field('badge'),
    decision: DECISIONS[event.kind] ?? null,
    reason: field('reason'),
    event_id: event.id,
    gateway: event.gateway,
    sequence: String(event.seq),
    kind: event.kind,
  };
}

/** CSV writes NULL and '' alike, JSON lines numbers as numbers: compared as text, null as ''. */
const asText = (v: unknown) => (v === null || v === undefined ? '' : String(v));

/** The columns of an exported row that differ from its chained content. */
export function differingColumns(row: Record<string, unknown>, event: ChainedEvent): string[] {
  return Object.entries(chainedColumns(event))
    .filter(([column, value]) => asText(row[column]) !== asText(value))
    .map(([column]) => column);
}

/** One record of the content file, parsed. */
interface ContentRecord {
  state: string;
  site: string;
  no: string;
  eventId: string;
  content: string;
}

/** Reads the content file beside the data file; `check` takes each chained row in turn. */
export class ContentChecker {
  readonly count: ContentCount = { rechecked: 0, erased: 0 };
  private readonly records: AsyncGenerator<string[]>;
  /** Out of step with the rows: nothing after can be matched, so nothing more is checked. */
  private stopped = false;
  private header = true;

  private constructor(
    path: string,
    private readonly problem: (text: string) => void,
  ) {
    this.records = csvFileRecords(path);
  }

  /** Undefined for a bundle whose signed manifest lists no content file (made before it existed). */
  static open(
    dir: string,
    files: readonly { name: string }[],
    problem: (text: string) => void,
  ): ContentChecker | undefined {
    if (!files.some((f) => f.name === CONTENT_FILE)) return undefined;
    const path = join(dir, CONTENT_FILE);
    if (!existsSync(path)) {
      problem(`${CONTENT_FILE} is missing`);
      return undefined;
    }
    return new ContentChecker(path, problem);
  }

  private async next(): Promise<ContentRecord | undefined> {
    for (;;) {
      let record: IteratorResult<string[]>;
      try {
        record = await this.records.next();
      } catch (error) {
        if (!(error instanceof CsvFormatError)) throw error;
        this.stop(`${CONTENT_FILE}: ${error.message}`);
        return undefined;
      }
      if (record.done) return undefined;
      if (this.header) {
        this.header = false;
        if (record.value.join(',') !== CONTENT_HEADER) {
          this.stop(`${CONTENT_FILE} does not start with its header`);
          return undefined;
        }
        continue;
      }
      const [state = '', site = '', no = '', eventId = '', content = ''] = record.value;
      return { state, site, no, eventId, content };
    }
  }

  /** Closes the file, also before its end (the data file could not be read on). */
  async close(): Promise<void> {
    this.stopped = true;
    await this.records.return(undefined);
  }

  private stop(text: string): void {
    this.stopped = true;
    this.problem(text);
  }

  /**
   * The content record of the data file's `rowNo`th row, which names chain link `row.chain_no`;
   * `digest` is that link's (undefined where the row is not that link: reported already).
   */
  async check(row: Record<string, unknown>, rowNo: number, digest: string | undefined): Promise<void> {
    if (this.stopped) return;
    const record = await this.next();
    const name = `row ${rowNo} (event ${row.event_id})`;
    if (!record) {
      if (!this.stopped) this.stop(`${CONTENT_FILE} ends before ${name}`);
      return;
    }
    if (record.site !== row.site || record.no !== asText(row.chain_no) || record.eventId !== row.event_id) {
      this.stop(
        `${CONTENT_FILE} is out of step with the data file at ${name}: it has chain ${record.site} link ${record.no} (event ${record.eventId})`,
      );
      return;
    }
    const event = parseEventContent(record.content);
    if (!event) {
      this.problem(`${name}: its content in ${CONTENT_FILE} is not an event's chained content`);
      return;
    }
    const differs = differingColumns(row, event);
    if (differs.length > 0)
      this.problem(
        `${name}: ${differs.join(', ')} differ from its content chained at ${row.site} link ${row.chain_no}`,
      );
    if (digest === undefined) return;
    const hashed = createHash('sha256').update(record.content, 'utf8').digest('hex');
    if (hashed === digest) this.count.rechecked += 1;
    else if (record.state === 'erased') this.count.erased += 1;
    else
      this.problem(
        `${name}: its content does not hash to the digest of chain ${row.site} link ${row.chain_no}`,
      );
  }

  /** After the last row: the content file must hold nothing more. Closes it. */
  async finish(): Promise<void> {
    try {
      if (this.stopped) return;
      const extra = await this.next();
      if (extra)
        this.problem(
          `${CONTENT_FILE} has a record for chain ${extra.site} link ${extra.no} (event ${extra.eventId}) that no exported row names`,
        );
    } finally {
      await this.close();
    }
  }
}

/** The report's line on content, for the command line; `content` undefined: no content file. */
export function formatContentLine(content: ContentCount | undefined): string {
  if (!content)
    return `content not rechecked: the bundle has no ${CONTENT_FILE} (made before exports wrote it); rows are checked by event id and link hash only`;
  const erased =
    content.erased > 0
      ? `; ${content.erased} could not be: rewritten by an erasure (listed in erased_chain_rows), their content is as the erasure left it, not as it was chained`
      : '';
  return `content: ${content.rechecked} rows hash to their chain links' digests and agree with their columns${erased}`;
}
