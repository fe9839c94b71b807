import { createWriteStream } from 'node:fs';
import { basename } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientBase } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import { CodedError } from '../../lib/coded-error.js';
import { AuditErrorCode } from './audit-errors.js';
import { Digesting, type FileEntry } from './bundle-digest.js';
import type { CentralKeyHistory } from './central-keys.js';
import { type CoveredRow, isErasureRedaction } from './chain-coverage.js';
import { parseCsvLine } from './csv-line.js';
import { inspectErasureList } from './erasure-list-check.js';
import { type ExportQuery, exportWhere } from './export-query.js';

/**
 * The export's content file (`chain-content.csv`): for every exported row with a chain link, the
 * exact text its link's digest was taken of (`identgate_event_digest_text`, rendered by
 * PostgreSQL in the COPY, never in node), in the data file's order. Without it a bundle proves
 * only that each row's id sits in the chain: someone who can write to the database could change
 * an event's person, door or time after it was chained, and the export would sign the changed
 * row beside its old, still valid link. With it the bundle's verifier hashes each text against
 * its link and reads the row's columns out of it (bundle-content-check.ts).
 *
 * Writing it is also the export's check of the content: each record's `state` is computed in the
 * same statement, and a row whose text does not hash to its link's digest stops the export before
 * anything is signed, unless an erasure listed it (`erased_chain_rows`) and `audit verify` would
 * accept it: as the erasure left it (chain-coverage.ts `isErasureRedaction`), from a list as its
 * last signed change recorded it (erasure-list-check.ts). Such rows are written with state
 * `erased`: their text is what the database holds now, which cannot match the digest.
 */
export const CONTENT_FILE = 'chain-content.csv';
export const CONTENT_HEADER = 'state,site,no,event_id,content';

/** The text is rendered once (the fence keeps the planner from computing it twice) and hashed here. */
export function contentSql(query: ExportQuery, quote: (value: string) => string): string {
  return `SELECT CASE WHEN sha256(convert_to(t.content, 'UTF8')) = c.digest THEN NULL
                   WHEN x.site IS NOT NULL THEN 'erased' ELSE 'changed' END AS state,
       c.site, c.no, e.id AS event_id, t.content
  FROM events e
  JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text
  LEFT JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no
  CROSS JOIN LATERAL (SELECT identgate_event_digest_text(e) AS content OFFSET 0) t
 WHERE ${exportWhere(query, quote)}
 ORDER BY e.occurred_at, e.id`;
}

function changed(site: string, no: string, id: string): CodedError {
  return new CodedError(
    AuditErrorCode.chainBroken,
    `chain ${site}: link ${no} (event ${id}): its event row was changed (content digest differs); nothing exported, run identgate audit verify`,
  );
}

const COMMA = 0x2c;
const LINE_FEED = 0x0a;

/**
 * Passes the COPY through and reads the state of each record: a record of a matching row starts
 * with a comma (its state is NULL), so only the others are parsed. `changed` fails the stream.
 */
export class ContentGuard extends Transform {
  private lines = 0;
  private atLineStart = true;
  /** The bytes so far of a record that is not a matching row's. */
  private marked: Buffer[] | undefined;
  erased = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let i = 0; i < chunk.length; ) {
      if (this.atLineStart) {
        this.atLineStart = false;
        if (this.lines > 0 && chunk[i] !== COMMA) this.marked = [];
      }
      const end = chunk.indexOf(LINE_FEED, i);
      this.marked?.push(chunk.subarray(i, end === -1 ? chunk.length : end));
      if (end === -1) break;
      if (this.marked) {
        const [state = '', site = '', no = '', id = ''] = parseCsvLine(Buffer.concat(this.marked).toString());
        this.marked = undefined;
        if (state !== 'erased') {
          done(changed(site, no, id));
          return;
        }
        this.erased += 1;
      }
      this.lines += 1;
      this.atLineStart = true;
      i = end + 1;
    }
    done(null, chunk);
  }
}

/**
 * Writes the content file in the export's snapshot; throws IDG_AUDIT_CHAIN_BROKEN (and writes
 * nothing the caller keeps) where a row's content is not what its link was made of.
 */
export async function writeContent(
  client: ClientBase,
  query: ExportQuery,
  path: string,
  keys: CentralKeyHistory,
  signal: AbortSignal,
): Promise<FileEntry> {
  const sql = contentSql(query, (value) => client.escapeLiteral(value));
  const copy = client.query(copyTo(`COPY (${sql}) TO STDOUT WITH (FORMAT csv, HEADER true)`));
  const guard = new ContentGuard();
  const digesting = new Digesting();
  await pipeline(copy, guard, digesting, createWriteStream(path, { mode: 0o600 }), { signal });
  if (guard.erased > 0) await acceptErasures(client, query, keys);
  return digesting.entry(basename(path));
}

/**
 * The rows an erasure listed whose content differs from their link: each accepted only as `audit
 * verify` accepts it, and only if the list is as its last (signed) change recorded it.
 */
async function acceptErasures(
  client: ClientBase,
  query: ExportQuery,
  keys: CentralKeyHistory,
): Promise<void> {
  const inspection = await inspectErasureList(client, keys);
  if (inspection.problem)
    throw new CodedError(
      AuditErrorCode.chainBroken,
      `${inspection.problem}; exported rows rely on it: nothing exported, run identgate audit verify`,
    );
  const where = exportWhere(query, (value) => client.escapeLiteral(value));
  const cursor = client.query(
    new Cursor<CoveredRow & { site: string; no: string; id: string; actual: Buffer }>(
      `SELECT c.site, c.no, e.id, c.source, c.at, c.added_at, true AS erased, x.redacted AS erased_digest,
              identgate_event_digest(e) AS actual
         FROM events e
         JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text
         JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no
        WHERE ${where} AND identgate_event_digest(e) <> c.digest`,
    ),
  );
  try {
    for (let rows = await cursor.read(1000); rows.length > 0; rows = await cursor.read(1000)) {
      const unexcused = rows.find((row) => !isErasureRedaction(row, row.actual));
      if (unexcused) throw changed(unexcused.site, unexcused.no, unexcused.id);
    }
  } finally {
    await cursor.close();
  }
}
