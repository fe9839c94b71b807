import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportPublicKey } from '../../protocol/signing.js';
import { ContentChecker, type ContentCount } from './bundle-content-check.js';
import type { CentralKeyHistory, RetiredKey } from './central-keys.js';
import { linkHash } from './chain-links.js';
import { checkpointsProblem } from './chain-verifier.js';
import { unguardRow } from './csv-formula-guard.js';
import { CsvFormatError, csvFileRecords } from './csv-records.js';
import { BUNDLE_FILES, type ChainSection, dataFileName, type Manifest } from './export-bundle.js';
import { EXPORT_COLUMNS, type ExportFormat } from './export-query.js';

/**
 * `identgate export verify <dir>`: what an auditor's tools check (every file's SHA-256, the
 * Ed25519 signature over the manifest) and what they cannot: that the chain links recompute,
 * meet the signed day checkpoints, that every exported row sits in its chain at the place, with
 * the id and the link hash, that it claims, and that its content is what the link's digest was
 * taken of (bundle-content-check.ts). Needs nothing but the bundle (and, to pin the
 * signer, the central public key).
 */
export interface BundleReport {
  ok: boolean;
  problems: string[];
  rows: number;
  /** Rows anchored in a chain; the rest predate the chain. */
  chained: number;
  links: number;
  /** The key that signed the bundle (`ed25519:…`), once its public key could be read. */
  signer?: string;
  /**
   * How many chained rows' content was recomputed (bundle-content-check.ts); absent for a bundle
   * without a content file (made before it was added), whose content is not rechecked.
   */
  content?: ContentCount;
}

const MAX_PROBLEMS = 20;
const CHAIN_HEADER = 'site,no,source,ref,digest,hash';

/**
 * `trusted`: the configured central keys (`export verify --config`). The bundle must then be
 * signed by the current key, or by a retired one on a day it was in use, and every retired key
 * it names must be configured as retired, no later than configured.
 *
 * `signer`: the central public key an auditor was given (`export verify --public-key`,
 * `ed25519:…`): the bundle must be signed by it. The retired keys the bundle names are then
 * trusted as that key vouches for them in the signed manifest.
 */
export async function verifyBundle(
  dir: string,
  trusted?: CentralKeyHistory,
  signer?: string,
): Promise<BundleReport> {
  const report: BundleReport = { ok: false, problems: [], rows: 0, chained: 0, links: 0 };
  const problem = (text: string) => {
    if (report.problems.length < MAX_PROBLEMS) report.problems.push(text);
  };
  const read = (name: string): Buffer | undefined => {
    const path = join(dir, name);
    if (!existsSync(path)) {
      problem(`${name} is missing`);
      return undefined;
    }
    return readFileSync(path);
  };
  const manifestBytes = read(BUNDLE_FILES.manifest);
  const signature = read(BUNDLE_FILES.signature);
  const pem = read(BUNDLE_FILES.publicKey);
  const sums = read(BUNDLE_FILES.sums);
  const sumsSignature = read(BUNDLE_FILES.sumsSignature);
  if (!manifestBytes || !signature || !pem || !sums || !sumsSignature) return report;
  let manifest: Manifest;
  let key: KeyObject;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
    key = createPublicKey(pem);
    report.signer = exportPublicKey(key); // an Ed25519 key, or it throws
  } catch (error) {
    problem(`manifest or public key unreadable: ${(error as Error).message}`);
    return report;
  }
  if (!verify(null, manifestBytes, key, signature))
    problem('the signature over manifest.json does not verify');
  if (!verify(null, sums, key, sumsSignature)) problem('the signature over SHA256SUMS does not verify');
  if (report.signer !== manifest.publicKey) problem('public-key.pem is not the key the manifest names');
  if (signer !== undefined && report.signer !== signer)
    problem(`the bundle is signed by ${report.signer}, not by the key given, ${signer}`);
  const retired = retiredKeysOf(manifest, problem);
  const signerRetired = trusted ? checkTrusted(trusted, report.signer, retired, problem) : undefined;
  await checkSums(dir, sums.toString('utf8'), manifest, problem);
  if (report.problems.length > 0) return report;
  const links = await checkChain(dir, manifest, retired, trusted, problem, report);
  await checkRows(dir, manifest, links, problem, report, signerRetired?.lastDay);
  report.ok = report.problems.length === 0;
  return report;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function checkSums(dir: string, sums: string, manifest: Manifest, problem: (t: string) => void) {
  const listed = new Map<string, string>();
  for (const line of sums.split('\n').filter((l) => l.length > 0)) {
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!match) problem(`SHA256SUMS has a malformed line: ${line.slice(0, 80)}`);
    else listed.set(match[2] as string, match[1] as string);
  }
  const required = [...manifest.files.map((f) => f.name), BUNDLE_FILES.manifest, BUNDLE_FILES.signature];
  for (const name of required) if (!listed.has(name)) problem(`SHA256SUMS does not list ${name}`);
  for (const [name, sum] of listed) {
    const path = join(dir, name);
    if (name.includes('/') || !existsSync(path)) {
      problem(`${name} is missing`);
      continue;
    }
    const actual = await sha256File(path);
    if (actual !== sum) problem(`${name}: SHA-256 differs from SHA256SUMS`);
    const entry = manifest.files.find((f) => f.name === name);
    if (entry && entry.sha256 !== actual) problem(`${name}: SHA-256 differs from the manifest`);
  }
}

type Links = Map<string, { source: string; ref: string; digest: string; hash: string }>;

/** The manifest's retired keys, if well formed; a malformed list is a problem and trusts none. */
function retiredKeysOf(manifest: Manifest, problem: (t: string) => void): RetiredKey[] {
  const listed: unknown = manifest.retiredKeys;
  if (listed === undefined) return [];
  const wellFormed =
    Array.isArray(listed) &&
    listed.every(
      (r: unknown) =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as RetiredKey).publicKey === 'string' &&
        typeof (r as RetiredKey).lastDay === 'string' &&
        /^\d{4}-\d{2}-\d{2}$/.test((r as RetiredKey).lastDay),
    );
  if (!wellFormed) {
    problem('the manifest names retired keys in a form this verifier does not read');
    return [];
  }
  return listed as RetiredKey[];
}

/**
 * With a configured key: the bundle's signer and every retired key it names must be the
 * operator's. A bundle signed by a retired key (made before the rotation) is returned that key:
 * its rows must then all be dated no later than the key's last day (checkRows), since the
 * manifest's own dates are the signer's to choose.
 */
function checkTrusted(
  trusted: CentralKeyHistory,
  signer: string,
  retired: readonly RetiredKey[],
  problem: (t: string) => void,
): RetiredKey | undefined {
  const signerRetired = trusted.retired.find((r) => r.publicKey === signer);
  if (signer !== trusted.current && !signerRetired)
    problem('the bundle is signed by a key other than the central signing key');
  for (const r of retired) {
    const configured = trusted.retired.find((t) => t.publicKey === r.publicKey);
    if (!configured || r.lastDay > configured.lastDay)
      problem(
        `the manifest vouches for ${r.publicKey} until ${r.lastDay}, which the configuration does not retire so (keys.retiredSigning)`,
      );
  }
  return signerRetired;
}

async function checkChain(
  dir: string,
  manifest: Manifest,
  retired: readonly RetiredKey[],
  trusted: CentralKeyHistory | undefined,
  problem: (t: string) => void,
  report: BundleReport,
): Promise<Links> {
  const links: Links = new Map();
  const sections = new Map(manifest.chain.map((s) => [s.site, s]));
  const state = new Map<string, { no: number; hash: Buffer }>();
  for (const s of manifest.chain) {
    state.set(s.site, { no: s.firstNo - 1, hash: Buffer.from(s.prevHash, 'hex') });
    // Signed by the bundle's key or a retired one it names for the day, in order (chain-verifier.ts).
    const unsound = checkpointsProblem(
      s.checkpoints,
      { current: manifest.publicKey, retired },
      'not-checked',
    );
    if (unsound) problem(`chain ${s.site}: ${unsound}`);
    // Pinned: each checkpoint also by a key the configuration trusts for its day.
    const untrusted = trusted && checkpointsProblem(s.checkpoints, trusted, 'not-checked');
    if (untrusted && untrusted !== unsound) problem(`chain ${s.site}: ${untrusted}`);
    for (const c of s.checkpoints) {
      if (c.lastNo === s.firstNo - 1 && c.head !== s.prevHash) {
        problem(`chain ${s.site} does not start at the head of checkpoint ${c.day}`);
      }
    }
  }
  try {
    await readLinks(dir, sections, state, links, problem, report);
  } catch (error) {
    if (!(error instanceof CsvFormatError)) throw error;
    problem(`${BUNDLE_FILES.chain}: ${error.message}`);
  }
  for (const s of manifest.chain) {
    const end = state.get(s.site);
    if (end?.no !== s.lastNo || end.hash.toString('hex') !== s.head) {
      problem(`chain ${s.site} does not reach its head ${s.lastNo} named in the manifest`);
    }
  }
  return links;
}

/** Recomputes the links of `chain.csv` in order, from `state` (each chain's number and hash before its first link). */
async function readLinks(
  dir: string,
  sections: ReadonlyMap<string, ChainSection>,
  state: Map<string, { no: number; hash: Buffer }>,
  links: Links,
  problem: (t: string) => void,
  report: BundleReport,
): Promise<void> {
  let header = true;
  for await (const fields of csvFileRecords(join(dir, BUNDLE_FILES.chain))) {
    if (header) {
      header = false;
      if (fields.join(',') !== CHAIN_HEADER) {
        problem('the chain file does not start with its header');
        return;
      }
      continue;
    }
    const [site = '', no = '', source = '', ref = '', digest = '', linked = ''] = fields;
    const link = { site, no: Number(no), source, ref, digest, hash: linked };
    const section = sections.get(link.site);
    const at = state.get(link.site);
    if (!section || !at) {
      problem(`the chain file has a link of chain ${link.site}, which the manifest does not cover`);
      return;
    }
    if (link.no !== at.no + 1) {
      problem(`chain ${link.site}: link ${at.no + 1} is missing (found ${link.no})`);
      return;
    }
    const hash = linkHash(at.hash, Buffer.from(link.digest, 'hex'));
    if (hash.toString('hex') !== link.hash) {
      problem(`chain ${link.site}: link ${link.no} does not recompute`);
      return;
    }
    for (const c of section.checkpoints) {
      if (c.lastNo === link.no && c.head !== link.hash)
        problem(`chain ${link.site}: link ${link.no} is not the head signed for ${c.day}`);
      if (c.firstNo === link.no && c.prevHash !== at.hash.toString('hex')) {
        problem(`chain ${link.site}: link ${link.no} does not follow the checkpoint before ${c.day}`);
      }
    }
    state.set(link.site, { no: link.no, hash });
    links.set(`${link.site}:${link.no}`, {
      source: link.source,
      ref: link.ref,
      digest: link.digest,
      hash: link.hash,
    });
    report.links += 1;
  }
}

async function checkRows(
  dir: string,
  manifest: Manifest,
  links: Links,
  problem: (t: string) => void,
  report: BundleReport,
  /** The last day of the retired key that signed the bundle: no row may be dated later. */
  notAfterDay?: string,
): Promise<void> {
  const name = dataFileName(manifest.format);
  const guarded = manifest.format === 'csv' && manifest.csvFormulaGuard === true;
  let late = false;
  let previous = '';
  const content = ContentChecker.open(dir, manifest.files, problem);
  try {
    for await (const row of dataRows(join(dir, name), manifest.format, problem)) {
      report.rows += 1;
      if (guarded)
        unguardRow(row, (column) =>
          problem(
            `row ${report.rows} (event ${row.event_id}): ${column} begins as a spreadsheet formula would, without the apostrophe before it`,
          ),
        );
      const order = `${row.when} ${row.event_id}`;
      if (order < previous) problem(`row ${report.rows} (event ${row.event_id}) is out of time order`);
      previous = order;
      if (notAfterDay && !late && !(String(row.when).slice(0, 10) <= notAfterDay)) {
        late = true;
        problem(
          `row ${report.rows} (event ${row.event_id}) is dated after ${notAfterDay}, the last day the retired key that signed the bundle was in use`,
        );
      }
      if (row.chain_no === null || row.chain_no === '' || row.chain_no === undefined) continue;
      const link = links.get(`${row.site}:${Number(row.chain_no)}`);
      const linked = link?.source === 'event' && link.ref === row.event_id && link.hash === row.chain_hash;
      if (!linked) {
        problem(
          `row ${report.rows} (event ${row.event_id}) is not at chain ${row.site} link ${row.chain_no}`,
        );
      } else report.chained += 1;
      await content?.check(row, report.rows, linked ? link.digest : undefined);
    }
  } catch (error) {
    if (!(error instanceof CsvFormatError || error instanceof UnreadableRow)) throw error;
    problem(`${name}: ${error.message}`);
    await content?.close();
    return;
  }
  await content?.finish();
  if (content) report.content = content.count;
  if (report.rows !== manifest.rows)
    problem(`the data file has ${report.rows} rows, the manifest says ${manifest.rows}`);
}

/** A JSON line that is not a row's object. */
class UnreadableRow extends Error {}

/** The data file's rows, each as its columns' values (CSV: text, '' for NULL; JSONL: as parsed). */
async function* dataRows(
  path: string,
  format: ExportFormat,
  problem: (t: string) => void,
): AsyncGenerator<Record<string, unknown>> {
  if (format === 'csv') {
    let header = true;
    for await (const fields of csvFileRecords(path)) {
      if (header) {
        header = false;
        if (fields.join(',') !== EXPORT_COLUMNS.join(','))
          problem('the CSV header is not the export columns');
        continue;
      }
      if (fields.length !== EXPORT_COLUMNS.length)
        throw new UnreadableRow(
          `a row has ${fields.length} fields, not the ${EXPORT_COLUMNS.length} export columns`,
        );
      yield Object.fromEntries(EXPORT_COLUMNS.map((c, i) => [c, fields[i]]));
    }
    return;
  }
  // JSON escapes every line break inside a string: one line is one row.
  let line = 0;
  for await (const text of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    line += 1;
    if (text.length === 0) continue;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (error) {
      throw new UnreadableRow(`line ${line} is not JSON: ${(error as Error).message}`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw new UnreadableRow(`line ${line} is not a row's object`);
    yield row as Record<string, unknown>;
  }
}
