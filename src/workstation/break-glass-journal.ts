import {
  appendFileSync,
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { processRuns } from '../lib/process-runs.js';
import { syncDirectory, writeFileSynced } from '../lib/state-files.js';
import { JOURNAL_FILE, parseReportName } from './state-layout.js';

/**
 * The break-glass journal (`<stateDir>/break-glass.log`): every grant, refused code, login through
 * a grant and refused report, one JSON object a line, appended. Retention and the erasure of a
 * user take lines out by rewriting it whole (temporary file, fsync, rename); every line they keep
 * stays byte for byte.
 */
export interface JournalLine {
  /** The line's bytes, without its newline. */
  bytes: Buffer;
  /** False only for a last line without its newline (a torn append). */
  complete: boolean;
  /** The parsed object; undefined for a line that is not a JSON object. */
  entry?: Record<string, unknown>;
  /** When it was written; undefined when the line does not say. */
  at?: number;
}

export function appendJournal(stateDir: string, entry: Record<string, unknown>): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  withJournalLock(stateDir, () =>
    appendFileSync(join(stateDir, JOURNAL_FILE), `${JSON.stringify(entry)}\n`, { mode: 0o600 }),
  );
}

/** How long an appender or rewriter waits for the journal's lock before going on without it. */
export const JOURNAL_LOCK_WAIT_MS = 2000;
const LOCK_FILE = `${JOURNAL_FILE}.lock`;

/**
 * Runs `work` holding `<stateDir>/break-glass.log.lock` (created exclusively, holding the pid):
 * login checks append, retention and erasure rewrite, in separate processes, and a rewrite's
 * rename must not drop an append, nor an erasure be undone by a rewrite that read before it. A
 * lock whose process is gone is taken over. After `waitMs` the work runs anyway (a hung holder
 * must not stop every login check); the rewrite's own check of the journal then still refuses
 * to replace a journal that changed.
 */
export function withJournalLock<T>(stateDir: string, work: () => T, waitMs = JOURNAL_LOCK_WAIT_MS): T {
  const path = join(stateDir, LOCK_FILE);
  const deadline = Date.now() + waitMs;
  let held = false;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      held = true;
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') break; // no lock to be had: go on
    }
    if (!holderRuns(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) break;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  try {
    return work();
  } finally {
    if (held) rmSync(path, { force: true });
  }
}

/** Whether the process named in the lock file runs (an unreadable or empty one: assume it does, briefly). */
function holderRuns(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path, 'utf8'));
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  return processRuns(pid);
}

/** The journal's lines, or undefined when there is no journal; other read errors are thrown. */
export function readJournal(stateDir: string): { lines: JournalLine[]; stats: Stats } | undefined {
  let fd: number;
  try {
    fd = openSync(join(stateDir, JOURNAL_FILE), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const stats = fstatSync(fd);
    return { lines: splitLines(readFileSync(fd)), stats };
  } finally {
    closeSync(fd);
  }
}

function splitLines(content: Buffer): JournalLine[] {
  const lines: JournalLine[] = [];
  let start = 0;
  while (start < content.length) {
    const end = content.indexOf(0x0a, start);
    const bytes = content.subarray(start, end === -1 ? content.length : end);
    lines.push({ bytes, complete: end !== -1, ...parseLine(bytes) });
    start = end === -1 ? content.length : end + 1;
  }
  return lines;
}

function parseLine(bytes: Buffer): { entry?: Record<string, unknown>; at?: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const entry = parsed as Record<string, unknown>;
  if (typeof entry.at === 'number' && Number.isFinite(entry.at)) return { entry, at: entry.at };
  // A refused report journaled by an earlier version carries only the report's file name.
  const report = typeof entry.file === 'string' ? parseReportName(entry.file) : undefined;
  return report ? { entry, at: report.at } : { entry };
}

/** Whether a journal line is about `user`: by its user, or by the name of a report of theirs. */
export function namesUser(line: JournalLine, user: string): boolean {
  if (line.entry) {
    if (line.entry.user === user) return true;
    return typeof line.entry.file === 'string' && parseReportName(line.entry.file)?.user === user;
  }
  // A line that cannot be read may still hold the name: as a JSON string, or in a report's file
  // name (`<digits>-<user>.json`, so that erasing bob leaves agent-bob's lines alone). User names
  // hold only letters, digits, `_` and `-` (USER_PATTERN), so they need no escaping here.
  const text = line.bytes.toString('utf8');
  return (
    text.includes(JSON.stringify(user)) || new RegExp(`(^|[^A-Za-z0-9_-])\\d{1,15}-${user}\\.json`).test(text)
  );
}

export type JournalRewrite = { dropped: number; kept: number } | 'changed-meanwhile';

/**
 * Rewrites the journal without the lines `drop` picks. The journal may be appended to by another
 * process meanwhile (a login check, break-glass): if it changed between the read and the rename,
 * nothing is replaced and `changed-meanwhile` is returned, so that no appended line is lost.
 */
export function rewriteJournal(
  stateDir: string,
  drop: (lines: readonly JournalLine[]) => boolean[],
): JournalRewrite {
  return withJournalLock(stateDir, () => rewriteLocked(stateDir, drop));
}

function rewriteLocked(stateDir: string, drop: (lines: readonly JournalLine[]) => boolean[]): JournalRewrite {
  const journal = readJournal(stateDir);
  if (!journal) return { dropped: 0, kept: 0 };
  const dropped = drop(journal.lines);
  const kept = journal.lines.filter((_, index) => !dropped[index]);
  if (kept.length === journal.lines.length) return { dropped: 0, kept: kept.length };
  const content = Buffer.concat(
    kept.flatMap((line) => (line.complete ? [line.bytes, Buffer.from('\n')] : [line.bytes])),
  );
  const path = join(stateDir, JOURNAL_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  writeSynced(tmp, content);
  if (!unchanged(path, journal.stats)) {
    rmSync(tmp, { force: true });
    return 'changed-meanwhile';
  }
  renameSync(tmp, path);
  syncDirectory(stateDir);
  return { dropped: journal.lines.length - kept.length, kept: kept.length };
}

function writeSynced(path: string, content: Buffer): void {
  rmSync(path, { force: true });
  writeFileSynced(path, content, 0o600, 'wx');
}

function unchanged(path: string, before: Stats): boolean {
  let now: Stats;
  try {
    now = statSync(path);
  } catch {
    return false; // gone or unreadable meanwhile: not the journal that was read
  }
  return now.ino === before.ino && now.size === before.size && now.mtimeMs === before.mtimeMs;
}
