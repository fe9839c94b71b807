import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';

/**
 * The replay memory of the workstation agent: the id of every lock command it has run, with
 * central's issue time, in `<stateDir>/lock-seen.json`, so that a command delivered again is
 * refused after a restart too. An id is kept for `keepMs` after its issue, as long as the command
 * could still pass the checks (its window, or lateness); then it is forgotten. Forgetting too
 * early, or losing the file, only lets a replay lock once more: the safe direction.
 */
export const SEEN_FILE = 'lock-seen.json';

/** A bound on the file: central sends a few dozen commands per owed lock at most. */
const MAX_IDS = 10_000;

export interface SeenLockCommandsOptions {
  stateDir: string;
  keepMs: number;
  log: Logger;
}

export class SeenLockCommands {
  /** Command id → issue time (ms), oldest first. */
  private readonly ids = new Map<string, number>();
  readonly path: string;

  constructor(private readonly options: SeenLockCommandsOptions) {
    this.path = join(options.stateDir, SEEN_FILE);
  }

  /** Reads the file: a missing one is a first start; an unreadable one is logged and replaced. */
  load(nowMs: number): void {
    this.ids.clear();
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.options.log.error(
        { err: error, path: this.path },
        'workstation agent: the lock commands already run cannot be read; starting without them (a replay would lock again)',
      );
      this.save();
      return;
    }
    try {
      for (const [id, issuedAt] of parseSeen(text)) this.ids.set(id, issuedAt);
    } catch (error) {
      this.ids.clear();
      this.options.log.error(
        { err: error, path: this.path },
        'workstation agent: the lock commands already run are unreadable; the file is replaced (a replay would lock again)',
      );
      this.save();
      return;
    }
    if (this.prune(nowMs)) this.save();
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /**
   * Remembers commands and writes the file before returning: called before the lock program runs,
   * so that a crash during the run cannot make the command run again after the restart.
   */
  record(commands: ReadonlyArray<{ id: string; issuedAt: string }>, nowMs: number): void {
    for (const { id, issuedAt } of commands) this.ids.set(id, Date.parse(issuedAt));
    this.prune(nowMs);
    this.save();
  }

  /** Forgets ids issued more than keepMs ago, and the oldest beyond MAX_IDS; true when any went. */
  private prune(nowMs: number): boolean {
    const before = this.ids.size;
    for (const [id, issuedAt] of this.ids) if (issuedAt < nowMs - this.options.keepMs) this.ids.delete(id);
    const sorted = [...this.ids].sort((a, b) => a[1] - b[1]);
    for (const [id] of sorted.slice(0, Math.max(0, sorted.length - MAX_IDS))) this.ids.delete(id);
    return this.ids.size !== before;
  }

  /** Writes atomically (temp file, fsync, rename); a failure is logged: the lock runs all the same. */
  private save(): void {
    const commands = Object.fromEntries([...this.ids].map(([id, at]) => [id, new Date(at).toISOString()]));
    try {
      writeFileAtomic(this.path, `${JSON.stringify({ v: 1, commands })}\n`, 0o600);
    } catch (error) {
      this.options.log.error(
        { err: error, path: this.path },
        'workstation agent: cannot write the lock commands already run; a replay after a restart would lock again',
      );
    }
  }
}

function parseSeen(text: string): Array<[string, number]> {
  const parsed = JSON.parse(text) as { v?: unknown; commands?: unknown } | null;
  const commands = parsed?.commands;
  if (parsed?.v !== 1 || commands === null || typeof commands !== 'object' || Array.isArray(commands))
    throw new Error('not { "v": 1, "commands": { id: issuedAt } }');
  return Object.entries(commands).map(([id, issuedAt]) => {
    const at = typeof issuedAt === 'string' ? Date.parse(issuedAt) : Number.NaN;
    if (Number.isNaN(at)) throw new Error(`command ${JSON.stringify(id).slice(0, 60)}: no issue time`);
    return [id, at];
  });
}
