import { createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ClientBase, Pool } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { CodedError } from '../../lib/coded-error.js';
import { exportPublicKey } from '../../protocol/signing.js';
import { AuditErrorCode } from './audit-errors.js';
import { writeAudit } from './audit-log.js';
import {
  acceptErasures,
  CONTENT_FILE,
  CONTENT_HEADER,
  CONTENT_LAYOUT,
  changedRow,
  exportWithContentSql,
} from './bundle-content.js';
import { Digesting, type FileEntry, fileEntry } from './bundle-digest.js';
import type { CentralKeyHistory, RetiredKey } from './central-keys.js';
import { listCheckpoints } from './chain-checkpoints.js';
import { type CoveredRow, coversMissing, loadCoverage } from './chain-coverage.js';
import type { Checkpoint } from './chain-links.js';
import { ZERO_HASH } from './chain-links.js';
import { checkpointsProblem, unchainedListProblem } from './chain-verifier.js';
import { ContentSplitter } from './content-splitter.js';
import { CsvToJsonl } from './csv-to-jsonl.js';
import {
  EXPORT_COLUMNS,
  type ExportFormat,
  type ExportQuery,
  exportWhere,
  NUMERIC_COLUMNS,
} from './export-query.js';
import { readHandover } from './key-handover.js';
import { withSharedSnapshot } from './shared-snapshot.js';

/**
 * An auditor's export as a bundle directory: the rows (CSV and JSONL through COPY,
 * both streamed so memory stays flat), the chain links that anchor them to the signed day
 * checkpoints, the text each row's link digest was taken of (bundle-content.ts, from the rows'
 * own COPY), the public key, a manifest signed with the central key and a SHA256SUMS file.
 * Everything is read in one repeatable-read snapshot and written to a hidden sibling directory
 * that is renamed into place only when complete: a cancelled or failed export leaves nothing.
 */
export const BUNDLE_FILES = {
  chain: 'chain.csv',
  content: CONTENT_FILE,
  manifest: 'manifest.json',
  signature: 'manifest.sig',
  publicKey: 'public-key.pem',
  sums: 'SHA256SUMS',
  sumsSignature: 'SHA256SUMS.sig',
} as const;

export const dataFileName = (format: ExportFormat) => `access-log.${format}`;

export interface ExportProgress {
  rows: number;
  /** Rows in the export; unknown until the snapshot's count is in, while the rows stream already. */
  total: number | undefined;
}

export interface ExportRequest {
  query: ExportQuery;
  format: ExportFormat;
  /** The bundle directory to create; it must not exist. */
  out: string;
  /** Who asked, for the manifest and the audit log (`staff:<login>`, `cli:<user>`). */
  actor: string;
  signingKey: KeyObject;
  /** The keys signingKey replaced (keys.retiredSigning): named where they signed a checkpoint. */
  retired?: readonly RetiredKey[];
  onProgress?: (progress: ExportProgress) => void;
  signal?: AbortSignal;
}

/** Where one site's exported rows sit in its chain (null: rows older than the chain). */
interface SiteBounds {
  site: string;
  min: string | null;
  max: string | null;
}

export interface ChainSection {
  site: string;
  firstNo: number;
  lastNo: number;
  prevHash: string;
  head: string;
  checkpoints: Checkpoint[];
}

export interface Manifest {
  type: 'identgate-export';
  v: 1;
  createdAt: string;
  createdBy: string;
  query: ExportQuery;
  format: ExportFormat;
  rows: number;
  span: { first: string | null; last: string | null };
  files: FileEntry[];
  chain: ChainSection[];
  publicKey: string;
  /**
   * The central keys `publicKey` replaced that signed checkpoints in `chain`, each with the last
   * day it was in use: the signer vouches for them (absent when none did).
   */
  retiredKeys?: RetiredKey[];
  /**
   * A CSV data file whose text cells a spreadsheet would read as formulas carry an apostrophe
   * before them (csv-formula-guard.ts); absent in bundles made before, and in JSON lines.
   */
  csvFormulaGuard?: true;
}

export async function writeExportBundle(pool: Pool, request: ExportRequest): Promise<Manifest> {
  const { out } = request;
  if (existsSync(out))
    throw new CodedError(AuditErrorCode.outExists, `${out} exists already; choose a new directory`);
  const temp = join(dirname(out), `.${basename(out)}.partial-${randomBytes(4).toString('hex')}`);
  await mkdir(temp, { recursive: false, mode: 0o700 });
  try {
    const { manifest, manifestSha256 } = await writeContents(pool, request, temp);
    // The manifest's SHA-256 ties a bundle to its entry: `sha256sum manifest.json`.
    await writeAudit(pool, {
      actor: request.actor,
      action: 'audit.export',
      target: basename(out),
      details: { query: request.query, format: request.format, rows: manifest.rows, manifestSha256 },
    });
    await rename(temp, out);
    return manifest;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** The snapshot's count of the selected rows, their time span and where they sit in each chain. */
interface Counted {
  total: number;
  span: { first: string | null; last: string | null };
  sites: SiteBounds[];
}

/**
 * One site's count; `moved`: an event whose id is chained at another time only, `unchained`: one
 * without any link at its time (countRows).
 */
interface SiteCount extends SiteBounds {
  n: string;
  first: Date;
  last: Date;
  moved: string | null;
  unchained: string | null;
}

/**
 * How long before its time an event may have joined its chain: the ingest refuses events dated
 * more than an hour ahead of the central clock (FUTURE_TIME_LIMIT_MS), with an hour to spare.
 */
const CHAINED_AHEAD = "interval '2 hours'";

/**
 * An event of the export's span whose link remains but whose row is gone must have gone by
 * retention or an erasure, as `audit verify` accepts it (chain-coverage.ts): otherwise someone
 * deleted it, and signing the log without it would vouch for the gap. Every site the span touches
 * is looked at, whatever the query's filters, since a gap is a gap whichever rows were asked for.
 */
async function refuseMissingEvents(
  client: ClientBase,
  query: ExportQuery,
  counted: readonly SiteBounds[],
): Promise<void> {
  const sites = query.site
    ? [query.site]
    : [
        ...new Set([
          ...counted.map((s) => s.site),
          ...(await client.query<{ id: string }>('SELECT id FROM sites')).rows.map((r) => r.id),
        ]),
      ];
  if (sites.length === 0) return;
  const gone = await client.query<CoveredRow & { site: string; no: string; ref: string }>(
    `SELECT c.site, c.no, c.source, c.ref, c.at, c.added_at,
            x.site IS NOT NULL AS erased, x.redacted AS erased_digest
       FROM audit_chain c LEFT JOIN erased_chain_rows x ON x.site = c.site AND x.no = c.no
      WHERE c.site = ANY($1::text[]) AND c.source = 'event'
        AND c.added_at >= $2::timestamptz - ${CHAINED_AHEAD}
        AND c.at >= $2::timestamptz AND c.at < $3::timestamptz
        AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = c.ref::uuid AND e.occurred_at = c.at)
      ORDER BY c.site, c.no`,
    [sites, query.from, query.to],
  );
  if (gone.rows.length === 0) return;
  const coverage = await loadCoverage(client);
  const uncovered = gone.rows.find((row) => !coversMissing(coverage, row.site, row));
  if (uncovered)
    throw new CodedError(
      AuditErrorCode.chainBroken,
      `chain ${uncovered.site}: link ${uncovered.no} (event ${uncovered.ref}): its event row is missing and no deletion log entry covers it; nothing exported, run identgate audit verify`,
    );
}

async function writeContents(
  pool: Pool,
  request: ExportRequest,
  dir: string,
): Promise<{ manifest: Manifest; manifestSha256: string }> {
  const { query, format } = request;
  let total: number | undefined;
  let rows = 0;
  const progress = (n: number) => {
    rows += n;
    const shown = Math.max(0, total === undefined ? rows : Math.min(rows, total));
    request.onProgress?.({ rows: shown, total });
  };
  const keys = {
    current: exportPublicKey(createPublicKey(request.signingKey)),
    retired: request.retired ?? [],
  };
  // The rows and their content stream on one connection while a second, in the same snapshot,
  // counts them and writes the chain links: the two backends and this process work side by side
  // instead of in turn. Progress has no total until the count is in.
  const [data, { counted, chain }] = await withSharedSnapshot(
    pool,
    request.signal,
    (client, signal) => writeRows(client, request, dir, keys, progress, signal),
    async (client, signal) => {
      const counted = await countRows(client, query);
      await refuseMissingEvents(client, query, counted.sites);
      total = counted.total;
      const chained = counted.sites.filter((s) => s.min !== null);
      const chain = await writeChain(client, chained, join(dir, BUNDLE_FILES.chain), keys, signal);
      return { counted, chain };
    },
  );
  if (data.written !== counted.total) {
    throw new Error(`the export wrote ${data.written} rows where its snapshot counted ${counted.total}`);
  }
  const files = [data.file, chain.file, data.content];
  const publicKey = createPublicKey(request.signingKey);
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  await writeFile(join(dir, BUNDLE_FILES.publicKey), pem);
  files.push(fileEntry(BUNDLE_FILES.publicKey, pem));
  const manifest: Manifest = {
    type: 'identgate-export',
    v: 1,
    createdAt: new Date().toISOString(),
    createdBy: request.actor,
    query,
    format,
    rows: data.written,
    span: counted.span,
    files,
    chain: chain.sections,
    publicKey: exportPublicKey(publicKey),
    ...(format === 'csv' ? { csvFormulaGuard: true as const } : {}),
  };
  const signers = new Set(chain.sections.flatMap((s) => s.checkpoints.map((c) => c.publicKey)));
  const retiredKeys = (request.retired ?? []).filter((r) => signers.has(r.publicKey));
  if (retiredKeys.length > 0)
    manifest.retiredKeys = retiredKeys.map(({ publicKey, lastDay }) => ({ publicKey, lastDay }));
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const signature = sign(null, Buffer.from(manifestText), request.signingKey);
  await writeFile(join(dir, BUNDLE_FILES.manifest), manifestText);
  await writeFile(join(dir, BUNDLE_FILES.signature), signature);
  const manifestEntry = fileEntry(BUNDLE_FILES.manifest, manifestText);
  const sums = [...files, manifestEntry, fileEntry(BUNDLE_FILES.signature, signature)]
    .map((f) => `${f.sha256}  ${f.name}\n`)
    .join('');
  await writeFile(join(dir, BUNDLE_FILES.sums), sums);
  // SHA256SUMS is signed too: otherwise a changed file with a recomputed SHA256SUMS would pass
  // `sha256sum -c` while the manifest's signature still verified.
  await writeFile(join(dir, BUNDLE_FILES.sumsSignature), sign(null, Buffer.from(sums), request.signingKey));
  return { manifest, manifestSha256: manifestEntry.sha256 };
}

/**
 * One pass for the count, the time span and where the rows sit in each site's chain. A row is
 * its chain link by id and time, as audit verify pairs them: two events may share an id at
 * different times (each with its own link). An event whose id is chained at other times only
 * was moved after it was chained (or never chained, beside one that was): it would be exported
 * as a row from before the chain, so the export stops, naming that link. Looked up only for rows
 * without a link of their own, which are few.
 */
async function countRows(client: ClientBase, query: ExportQuery): Promise<Counted> {
  const where = exportWhere(query, (value) => client.escapeLiteral(value));
  const perSite = await client.query<SiteCount>(
    `SELECT e.site, count(*) AS n, min(e.occurred_at) AS first, max(e.occurred_at) AS last,
            min(c.no) AS min, max(c.no) AS max,
            min(e.id::text) FILTER (WHERE CASE WHEN c.no IS NULL THEN EXISTS (
              SELECT 1 FROM audit_chain o WHERE o.source = 'event' AND o.ref = e.id::text) ELSE false END) AS moved,
            min(e.id::text) FILTER (WHERE c.no IS NULL AND NOT EXISTS (
              SELECT 1 FROM chain_unchained_at_upgrade u
               WHERE u.source = 'event' AND u.ref = e.id::text AND u.at = e.occurred_at)) AS unchained
       FROM events e
       LEFT JOIN audit_chain c ON c.source = 'event' AND c.ref = e.id::text AND c.at = e.occurred_at
      WHERE ${where} GROUP BY e.site ORDER BY e.site`,
  );
  const moved = perSite.rows.find((r) => r.moved !== null)?.moved;
  if (moved) {
    const link = await client.query<{ site: string; no: string }>(
      `SELECT site, no FROM audit_chain WHERE source = 'event' AND ref = $1 ORDER BY site, no LIMIT 1`,
      [moved],
    );
    const { site = '?', no = '?' } = link.rows[0] ?? {};
    throw changedRow({ site, no, id: moved });
  }
  // Events stored without a link before schema 37 are listed (migration 0037) and exported as
  // not anchored, as long as the list is the one recorded.
  const listProblem = await unchainedListProblem(client);
  if (listProblem)
    throw new CodedError(
      AuditErrorCode.chainBroken,
      `${listProblem}; nothing exported, run identgate audit verify`,
    );
  const unchained = perSite.rows.find((r) => r.unchained !== null);
  if (unchained)
    throw new CodedError(
      AuditErrorCode.chainBroken,
      `chain ${unchained.site}: event ${unchained.unchained} is stored but has no link in its chain (written past the chain, or its link deleted); nothing exported, run identgate audit verify`,
    );
  const times = perSite.rows.flatMap((r) => [r.first.getTime(), r.last.getTime()]);
  return {
    total: perSite.rows.reduce((n, r) => n + Number(r.n), 0),
    span: {
      first: times.length > 0 ? new Date(Math.min(...times)).toISOString() : null,
      last: times.length > 0 ? new Date(Math.max(...times)).toISOString() : null,
    },
    sites: perSite.rows.map(({ site, min, max }) => ({ site, min, max })),
  };
}

/**
 * The data file and the content file through one COPY (bundle-content.ts), split here: CSV as
 * PostgreSQL writes it, or converted to JSON lines here. A row whose content was changed after it
 * was chained stops it (IDG_AUDIT_CHAIN_BROKEN), and so does one an erasure listed that `audit
 * verify` would not accept.
 */
async function writeRows(
  client: ClientBase,
  request: ExportRequest,
  dir: string,
  keys: CentralKeyHistory,
  progress: (rows: number) => void,
  signal: AbortSignal,
): Promise<{ written: number; file: FileEntry; content: FileEntry }> {
  const { query, format } = request;
  const name = dataFileName(format);
  const sql = exportWithContentSql(query, (value) => client.escapeLiteral(value), format);
  const copy = client.query(copyTo(`COPY (${sql}) TO STDOUT WITH (FORMAT csv)`));
  // The header PostgreSQL would write for the data file's own COPY: no column name needs quotes.
  const header = format === 'csv' ? EXPORT_COLUMNS.join(',') : undefined;
  const split = new ContentSplitter(CONTENT_LAYOUT, CONTENT_HEADER, changedRow, header);
  // CSV: progress from the lines written; JSONL: from the converter, which knows its records.
  const digesting = new Digesting(format === 'csv' ? progress : undefined);
  const sink = createWriteStream(join(dir, name), { mode: 0o600 });
  const contentDigesting = new Digesting();
  const contentSink = createWriteStream(join(dir, CONTENT_FILE), { mode: 0o600 });
  if (format === 'csv') progress(-1); // the header line
  await Promise.all([
    format === 'csv'
      ? pipeline(copy, split, digesting, sink, { signal })
      : // The same CSV, turned into JSON lines here: on another core than the PostgreSQL backend,
        // where encoding JSON in SQL took four times as long as the CSV (csv-to-jsonl.ts).
        pipeline(copy, split, new CsvToJsonl(EXPORT_COLUMNS, NUMERIC_COLUMNS, progress), digesting, sink, {
          signal,
        }),
    pipeline(split.content, contentDigesting, contentSink, { signal }),
  ]);
  if (split.erased > 0) await acceptErasures(client, query, keys);
  return {
    written: copy.rowCount,
    file: digesting.entry(name),
    content: contentDigesting.entry(CONTENT_FILE),
  };
}

/**
 * For each site with chained rows: every link from the checkpoint boundary before its first row
 * to the checkpoint (or, for today's rows, the current head) after its last, with the
 * checkpoints in between, so the verifier can recompute the links and meet the signed heads.
 */
async function writeChain(
  client: ClientBase,
  bounds: readonly SiteBounds[],
  path: string,
  keys: CentralKeyHistory,
  signal?: AbortSignal,
): Promise<{ file: FileEntry; sections: ChainSection[] }> {
  const sections: ChainSection[] = [];
  // The bundle's signature vouches for its checkpoints: each chain's must hold as audit verify
  // holds them (trusted keys, order, the handover), or the export stops rather than sign them.
  const handover =
    keys.current && keys.retired.length > 0 ? await readHandover(client, keys.current) : undefined;
  for (const b of bounds) {
    const checkpoints = await listCheckpoints(client, b.site);
    const unsound = checkpointsProblem(checkpoints, keys, handover);
    if (unsound)
      throw new CodedError(
        AuditErrorCode.chainBroken,
        `chain ${b.site}: ${unsound}; nothing exported, run identgate audit verify`,
      );
    const min = Number(b.min);
    const max = Number(b.max);

    const before = checkpoints.filter((c) => c.lastNo < min).at(-1);
    const after = checkpoints.find((c) => c.lastNo >= max);
    const firstNo = before ? before.lastNo + 1 : min;
    const head = await client.query<{ no: string }>('SELECT max(no) AS no FROM audit_chain WHERE site = $1', [
      b.site,
    ]);
    const lastNo = after ? after.lastNo : Number(head.rows[0]?.no);
    const prevHash = before
      ? before.head
      : firstNo === 1
        ? ZERO_HASH.toString('hex')
        : ((await hashAt(client, b.site, firstNo - 1)) ?? ZERO_HASH.toString('hex'));
    sections.push({
      site: b.site,
      firstNo,
      lastNo,
      prevHash,
      head: (await hashAt(client, b.site, lastNo)) ?? '',
      checkpoints: checkpoints.filter((c) => c.lastNo >= firstNo - 1 && c.firstNo <= lastNo),
    });
  }
  const ranges = sections.map(
    (s) => `(site = ${client.escapeLiteral(s.site)} AND no BETWEEN ${s.firstNo} AND ${s.lastNo})`,
  );
  const links = client.query(
    copyTo(
      `COPY (SELECT site, no, source, ref, encode(digest, 'hex') AS digest, encode(hash, 'hex') AS hash
               FROM audit_chain WHERE ${ranges.length > 0 ? ranges.join(' OR ') : 'false'}
              ORDER BY site, no) TO STDOUT WITH (FORMAT csv, HEADER true)`,
    ),
  );
  const digesting = new Digesting();
  await pipeline(links, digesting, createWriteStream(path, { mode: 0o600 }), { signal });
  return { file: digesting.entry(BUNDLE_FILES.chain), sections };
}

async function hashAt(client: ClientBase, site: string, no: number): Promise<string | undefined> {
  const result = await client.query<{ hash: string }>(
    `SELECT encode(hash, 'hex') AS hash FROM audit_chain WHERE site = $1 AND no = $2`,
    [site, no],
  );
  return result.rows[0]?.hash;
}
