import { EXPORT_COLUMNS, NUMERIC_COLUMNS } from './export-query.js';

/**
 * A spreadsheet opening the CSV data file reads a cell that begins with `=`, `+`, `-` or `@` (or
 * a tab or CR before one) as a formula: free text in an event (a command's `reason`, a badge)
 * could then run `=HYPERLINK(…)` or worse on the auditor's machine. So the export writes such a
 * text field with one apostrophe before it (`'=HYPERLINK(…)`), which spreadsheets show as text,
 * and also one that begins with an apostrophe already (`''x`), so the rule can be undone exactly:
 * a cell that begins with an apostrophe followed by one of these characters lost that apostrophe,
 * and no other cell did. JSON lines and chain-content.csv are written as they are.
 *
 * The data file is hashed as written and the content check compares each row, unguarded, with its
 * chained content, so nothing of the bundle's proof changes. A bundle whose manifest says
 * `csvFormulaGuard` is read back so by `export verify`, which also fails a cell that begins with
 * one of these characters unguarded. Bundles made before the guard are read as written.
 */
export const FORMULA_STARTS: ReadonlySet<string> = new Set(['=', '+', '-', '@', '\t', '\r', "'"]);

/**
 * Columns of stored text, the ones the export guards. The others are written by the export's own
 * SQL in forms that cannot begin so (a time, a UUID, a hex hash, granted/denied, numbers); the
 * verifier holds every text column to the rule all the same.
 */
export const FORMULA_GUARDED_COLUMNS: ReadonlySet<string> = new Set([
  'site',
  'room',
  'door',
  'reader',
  'direction',
  'person',
  'badge',
  'reason',
  'gateway',
  'clip',
  'kind',
]);

/** `expr` (SQL text, or NULL) with an apostrophe before it where it begins with one of FORMULA_STARTS. */
export function formulaGuardSql(expr: string): string {
  return `CASE WHEN left(${expr}, 1) IN ('=', '+', '-', '@', '''', chr(9), chr(13)) THEN '''' || ${expr} ELSE ${expr} END`;
}

const TEXT_COLUMNS = EXPORT_COLUMNS.filter((c) => !NUMERIC_COLUMNS.has(c));

/**
 * A guarded CSV row's values as the events hold them; each cell that breaks the rule (begins
 * with one of FORMULA_STARTS without the apostrophe before it) is named, left as it is.
 */
export function unguardRow(row: Record<string, unknown>, broken: (column: string) => void): void {
  for (const column of TEXT_COLUMNS) {
    const cell = row[column];
    if (typeof cell !== 'string' || cell.length === 0 || !FORMULA_STARTS.has(cell[0] as string)) continue;
    if (cell[0] === "'" && FORMULA_STARTS.has(cell[1] as string)) row[column] = cell.slice(1);
    else broken(column);
  }
}
