import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { importPublicKey } from '../../protocol/signing.js';
import { type CentralKeyHistory, centralKeyFor } from './central-keys.js';
import { type Checkpoint, checkpointSignatureValid } from './chain-links.js';

/**
 * The witness: a copy of every day checkpoint outside the database (`audit.witnessFile`, one JSON
 * line per checkpoint, appended and fsync'd). The chain and its checkpoints live in the database
 * they protect; someone who can write to it, without any key, could delete the last days'
 * checkpoints, rewrite those days' rows and links (the links are plain SHA-256), and let the
 * checkpoint job sign the rewritten days. Nothing in the database would then tell. The witness
 * does: what it holds must stay in the database as it was signed.
 *
 * Compared by content (chain, day, rows, hashes, times), not by signature, so that a checkpoint
 * signed anew by `audit checkpoint --resign-after` still matches what was witnessed.
 */
export interface WitnessReading {
  checkpoints: Checkpoint[];
  /** Lines that are no checkpoint (a torn last line, left by a crash mid-append, is not one). */
  problems: string[];
}

export interface WitnessComparison {
  /** Each a sentence naming the chain and day: a checkpoint deleted, changed or slipped in. */
  problems: string[];
  /** Stored checkpoints of days after the newest the witness holds of their chain: to append. */
  newer: Checkpoint[];
  /** Witnessed checkpoints found in the database as witnessed. */
  matched: number;
}

const FIELDS = ['site', 'day', 'publicKey', 'signature', 'prevHash', 'head', 'from', 'to'] as const;
const NUMBERS = ['firstNo', 'lastNo', 'count'] as const;

function asCheckpoint(value: unknown): Checkpoint | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  if (!FIELDS.every((f) => typeof o[f] === 'string')) return undefined;
  if (!NUMBERS.every((f) => Number.isSafeInteger(o[f]))) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(o.day as string)) return undefined;
  const c: Checkpoint = {
    site: o.site as string,
    day: o.day as string,
    firstNo: o.firstNo as number,
    lastNo: o.lastNo as number,
    count: o.count as number,
    prevHash: o.prevHash as string,
    head: o.head as string,
    from: o.from as string,
    to: o.to as string,
    publicKey: o.publicKey as string,
    signature: o.signature as string,
  };
  return c;
}

/**
 * The largest witness read (about 500 bytes per chain and day: 100 sites for 5 years is ~90 MiB).
 * Anything larger is refused rather than read into memory.
 */
export const MAX_WITNESS_BYTES = 256 * 1024 * 1024;

/**
 * Opens the witness itself, never what a symlink at its path points to, and never a FIFO or a
 * device (which would block or never end): a regular file, owner-only when created.
 */
async function openWitness(path: string, flags: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP')
      throw new Error(`${path} is a symbolic link; the witness must be the file itself`);
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new Error(`${path} is not a regular file`);
    if (stats.size > MAX_WITNESS_BYTES)
      throw new Error(`${path} holds ${stats.size} bytes, more than the ${MAX_WITNESS_BYTES} a witness may`);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The witness file's checkpoints; a missing file holds none. A symlink, a FIFO, a device or an
 * oversized file is refused (thrown), as are other read errors.
 */
export async function readWitness(path: string): Promise<WitnessReading> {
  let handle: FileHandle;
  try {
    handle = await openWitness(path, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], problems: [] };
    throw error;
  }
  let text: string;
  try {
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  const reading: WitnessReading = { checkpoints: [], problems: [] };
  const lines = text.split('\n');
  // The part after the last newline is a torn append (or nothing): never a witnessed checkpoint.
  lines.pop();
  for (const [i, line] of lines.entries()) {
    if (line.length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const checkpoint = asCheckpoint(parsed);
    if (checkpoint) reading.checkpoints.push(checkpoint);
    else reading.problems.push(`witness line ${i + 1} is not a checkpoint: ${line.slice(0, 80)}`);
  }
  return reading;
}

/** What a checkpoint says about its chain, without who signed it. */
function content(c: Checkpoint): string {
  return [c.site, c.day, c.firstNo, c.lastNo, c.count, c.prevHash, c.head, c.from, c.to].join(' ');
}

function signedByTrustedKey(c: Checkpoint, keys: CentralKeyHistory): boolean {
  if (!centralKeyFor(keys, c.publicKey, c.day)) return false;
  try {
    return checkpointSignatureValid(c, importPublicKey(c.publicKey));
  } catch {
    return false;
  }
}

/** With `keys`: the witnessed lines a central key trusted for their day signed, and the others named. */
export function trustedLines(
  witnessed: readonly Checkpoint[],
  keys?: CentralKeyHistory,
): { trusted: Checkpoint[]; problems: string[] } {
  if (!keys) return { trusted: [...witnessed], problems: [] };
  const trusted: Checkpoint[] = [];
  const problems: string[] = [];
  for (const c of witnessed) {
    if (signedByTrustedKey(c, keys)) trusted.push(c);
    else
      problems.push(
        `the witness holds a checkpoint of chain ${c.site} for ${c.day} that no trusted central key signed`,
      );
  }
  return { trusted, problems };
}

/**
 * Compares the database's checkpoints with the witnessed ones. With `keys`, a witnessed line
 * must be signed by a central key trusted for its day, or it counts for nothing (a line written
 * into the witness by someone else). Every witnessed checkpoint must be stored with the same
 * content; a stored one the witness lacks is to be appended when it is of a later day than the
 * chain's newest witnessed one, and a problem otherwise (slipped into the past).
 */
export function compareWithWitness(
  witnessed: readonly Checkpoint[],
  stored: readonly Checkpoint[],
  keys?: CentralKeyHistory,
): WitnessComparison {
  return compareJudged(trustedLines(witnessed, keys), stored);
}

/** compareWithWitness for lines already judged by trustedLines (each signature checked once). */
export function compareJudged(
  lines: { trusted: readonly Checkpoint[]; problems: readonly string[] },
  stored: readonly Checkpoint[],
): WitnessComparison {
  const result: WitnessComparison = { problems: [...lines.problems], newer: [], matched: 0 };
  const seen = new Map<string, Checkpoint>();
  const newest = new Map<string, string>();
  for (const c of lines.trusted) {
    const key = `${c.site} ${c.day}`;
    const earlier = seen.get(key);
    if (earlier) {
      if (content(earlier) !== content(c))
        result.problems.push(`the witness holds two different checkpoints of chain ${c.site} for ${c.day}`);
      continue;
    }
    seen.set(key, c);
    if (c.day > (newest.get(c.site) ?? '')) newest.set(c.site, c.day);
  }
  const storedByKey = new Map(stored.map((c) => [`${c.site} ${c.day}`, c]));
  for (const [key, c] of seen) {
    const s = storedByKey.get(key);
    if (!s)
      result.problems.push(
        `checkpoint of chain ${c.site} for ${c.day} (rows ${c.firstNo}–${c.lastNo}, head ${c.head}) was witnessed and is not in the database`,
      );
    else if (content(s) !== content(c))
      result.problems.push(
        `checkpoint of chain ${c.site} for ${c.day} differs from the witnessed one (rows ${s.firstNo}–${s.lastNo}, head ${s.head} stored; rows ${c.firstNo}–${c.lastNo}, head ${c.head} witnessed)`,
      );
    else result.matched += 1;
  }
  for (const s of stored) {
    if (seen.has(`${s.site} ${s.day}`)) continue;
    const last = newest.get(s.site);
    if (last === undefined || s.day > last) result.newer.push(s);
    else
      result.problems.push(
        `checkpoint of chain ${s.site} for ${s.day} is in the database but was never witnessed, though the witness holds the chain up to ${last}`,
      );
  }
  result.newer.sort((a, b) => (a.site === b.site ? a.lastNo - b.lastNo : a.site < b.site ? -1 : 1));
  return result;
}

/**
 * Appends checkpoints to the witness, each a line, fsync'd before it returns. A torn last line
 * (a crash mid-append) is cut off first: its checkpoint was never witnessed and is appended
 * again. The file is created owner-only.
 */
export async function appendWitness(
  path: string,
  checkpoints: readonly Checkpoint[],
  at = new Date(),
): Promise<void> {
  if (checkpoints.length === 0) return;
  const handle = await openWitness(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT);
  try {
    const size = (await handle.stat()).size;
    if (size > 0) {
      const keep = await lastNewlineEnd(handle, size);
      if (keep < size) await handle.truncate(keep);
    }
    const text = checkpoints
      .map((c) => `${JSON.stringify({ ...c, witnessedAt: at.toISOString() })}\n`)
      .join('');
    await handle.write(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The length of the file up to and including its last newline (0 when it has none). */
async function lastNewlineEnd(handle: FileHandle, size: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
    if (at !== -1) return start + at + 1;
    end = start;
  }
  return 0;
}
