import type { ClientBase } from 'pg';
import Cursor from 'pg-cursor';
import { CodedError } from '../../lib/coded-error.js';
import { AuditErrorCode } from './audit-errors.js';
import type { CentralKeyHistory } from './central-keys.js';
import { type CoveredRow, isErasureRedaction } from './chain-coverage.js';
import type { ChangedRow, SplitLayout } from './content-splitter.js';
import { FORMULA_GUARDED_COLUMNS, formulaGuardSql } from './csv-formula-guard.js';
import { inspectErasureList } from './erasure-list-check.js';
import {
  EXPORT_COLUMNS,
  type ExportFormat,
  type ExportQuery,
  exportSql,
  exportWhere,
} from './export-query.js';

/**
 * The export's content file (`chain-content.csv`): for every exported row with a chain link, the
 * exact text its link's digest was taken of (`identgate_event_digest_text`, rendered by
 * PostgreSQL in the rows' own COPY, never in node), in the data file's order. Without it a bundle proves
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

/**
 * The export's one statement: the data file's columns, then each row's state, chain site and
 * content text (NULL for a row without a link), in the data file's order (content-splitter.ts
 * splits it into the two files). The text is rendered once, below the sort, where the parallel
 * workers share the work (migration 36 marks its functions safe for them), and hashed above it:
 * PostgreSQL has no common subexpressions, and a LATERAL fence (OFFSET 0) would keep the whole
 * statement to one process. For a CSV data file, stored text that a spreadsheet would read as a
 * formula is guarded (csv-formula-guard.ts); JSON lines are converted from the same COPY, unguarded.
 */
export function exportWithContentSql(
  query: ExportQuery,
  quote: (value: string) => string,
  format: ExportFormat,
): string {
  const rows = exportSql(query, quote, {
    columns: `e.occurred_at AS sort_at, c.site AS chain_site, c.digest AS chain_digest,
       x.site IS NOT NULL AS listed_erased,
       CASE WHEN c.no IS NOT NULL THEN identgate_event_digest_text_of(e.id, e.occurred_at, e.schema_version,
         e.site, e.gateway, e.seq, e.kind, e.door, e.person, e.data, e.signature) END AS content`,
    joins: 'LEFT JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no',
  });
  const column = (c: string) =>
    format === 'csv' && FORMULA_GUARDED_COLUMNS.has(c)
      ? `${formulaGuardSql(`s."${c}"`)} AS "${c}"`
      : `s."${c}"`;
  return `SELECT ${EXPORT_COLUMNS.map(column).join(', ')},
       CASE WHEN s.content IS NULL OR sha256(convert_to(s.content, 'UTF8')) = s.chain_digest THEN NULL
            WHEN s.listed_erased THEN 'erased' ELSE 'changed' END AS state,
       s.chain_site, s.content
  FROM (${rows}) s
 ORDER BY s.sort_at, s.event_id`;
}

/** Where the splitter finds the fields the content file repeats. */
export const CONTENT_LAYOUT: SplitLayout = {
  rowFields: EXPORT_COLUMNS.length,
  eventId: EXPORT_COLUMNS.indexOf('event_id'),
  chainNo: EXPORT_COLUMNS.indexOf('chain_no'),
};

export function changedRow({ site, no, id }: ChangedRow): CodedError {
  return new CodedError(
    AuditErrorCode.chainBroken,
    `chain ${site}: link ${no} (event ${id}): its event row was changed (content digest differs); nothing exported, run identgate audit verify`,
  );
}

/**
 * The rows an erasure listed whose content differs from their link: each accepted only as `audit
 * verify` accepts it, and only if the list is as its last (signed) change recorded it.
 */
export async function acceptErasures(
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
         JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text AND c.at = e.occurred_at
         JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no
        WHERE ${where} AND identgate_event_digest(e) <> c.digest`,
    ),
  );
  try {
    for (let rows = await cursor.read(1000); rows.length > 0; rows = await cursor.read(1000)) {
      const unexcused = rows.find((row) => !isErasureRedaction(row, row.actual));
      if (unexcused) throw changedRow(unexcused);
    }
  } finally {
    await cursor.close();
  }
}
