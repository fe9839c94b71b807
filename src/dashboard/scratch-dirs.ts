import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { processRuns } from '../lib/process-runs.js';

/**
 * Private temporary directories (0700, by mkdtemp) for the plaintext the dashboard hands out:
 * export bundles being downloaded and decrypted footage being watched. Each is named after the
 * process that made it (`<prefix><pid>.<run>-XXXXXX`, `run` drawn at each start), so that a
 * dashboard starting after a crash can tell what a process that is gone left behind from what
 * another running instance still serves — also where the new process has the old one's id (a
 * container restarted, whose dashboard is always process 1).
 */
export const EXPORT_DIR_PREFIX = 'idg-export-';
export const FOOTAGE_DIR_PREFIX = 'identgate-footage-';

/** This process's run, told apart from an earlier process that had the same id. */
const RUN = randomBytes(4).toString('hex');

/** Directories named before the process id was part of the name count as left over at this age. */
const UNNAMED_STALE_MS = 60 * 60_000;

/** A new private directory under the system's temporary directory (TMPDIR), named after this process. */
export function makeScratchDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}${process.pid}.${RUN}-`));
}

/**
 * Removes the directories with these prefixes, directly under the temporary directory, that a
 * dashboard process left behind: one made by a process no longer running, or (named the old way)
 * an hour old. Only this user's real directories: a symbolic link or another user's entry is
 * left alone, and nothing inside is followed. Returns what was removed; a failure is logged.
 */
export async function removeStaleScratchDirs(
  prefixes: readonly string[],
  now: number,
  log: Logger,
): Promise<string[]> {
  const parent = tmpdir();
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (error) {
    log.error({ err: error, dir: parent }, 'could not look for temporary directories left behind');
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const made = madeBy(name, prefixes);
    if (made === undefined) continue;
    const path = join(parent, name);
    try {
      const stats = await lstat(path);
      if (!stats.isDirectory() || stats.uid !== process.getuid?.()) continue;
      const stale =
        made === 'unnamed'
          ? now - stats.mtimeMs > UNNAMED_STALE_MS
          : made.pid === process.pid
            ? made.run !== RUN
            : !processRuns(made.pid);
      if (!stale) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } catch (error) {
      log.error({ err: error, dir: path }, 'could not remove a temporary directory left behind');
    }
  }
  if (removed.length > 0)
    log.warn({ dirs: removed }, 'removed plaintext a dashboard process left behind when it ended');
  return removed;
}

/**
 * The process id (and run, where named) in a name this software made, 'unnamed' for the old
 * names, undefined for others.
 */
function madeBy(
  name: string,
  prefixes: readonly string[],
): { pid: number; run: string | undefined } | 'unnamed' | undefined {
  const prefix = prefixes.find((p) => name.startsWith(p));
  if (prefix === undefined) return undefined;
  const match = /^(?:([1-9][0-9]{0,9})(?:\.([0-9a-f]{8}))?-)?[A-Za-z0-9]{6}$/.exec(name.slice(prefix.length));
  if (!match) return undefined;
  return match[1] === undefined ? 'unnamed' : { pid: Number(match[1]), run: match[2] };
}
