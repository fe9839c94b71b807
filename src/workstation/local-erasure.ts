import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { CodedError } from '../lib/coded-error.js';
import { appendJournal, namesUser, rewriteJournal, withJournalLock } from './break-glass-journal.js';
import { listJson } from './local-retention.js';
import {
  CONFIRMED_DIR,
  GRANTS_DIR,
  JOURNAL_FILE,
  parseReportName,
  REPORTS_DIR,
  USER_PATTERN,
} from './state-layout.js';

/**
 * The workstation half of a person's erasure (GDPR Art. 17): `identgate people erase` cannot reach
 * the workstations, so `identgate workstation erase --user <name>` removes every local trace of
 * the user — central's last allow, a break-glass grant, their journal lines, their pending
 * break-glass reports. Unlike retention it fails loudly: an erasure that could not be completed
 * must not look done. The journal keeps one line that an erasure happened, without the user.
 */
export interface LocalErasure {
  confirmed: number;
  grants: number;
  journalLines: number;
  /** Break-glass reports central had not heard of yet: it never will. */
  reports: number;
}

/** How often a journal rewrite is tried while checks keep appending to it. */
const JOURNAL_ATTEMPTS = 5;

export function eraseLocalUser(stateDir: string, user: string, clock: Clock): LocalErasure {
  if (!USER_PATTERN.test(user))
    throw new CodedError('IDG_GATE_USER', `not a valid user name: ${JSON.stringify(user)}`);
  const erased: LocalErasure = {
    confirmed: removeIfThere(join(stateDir, CONFIRMED_DIR, `${user}.json`)),
    grants: removeIfThere(join(stateDir, GRANTS_DIR, `${user}.json`)),
    journalLines: 0,
    reports: 0,
  };
  const reports = join(stateDir, REPORTS_DIR);
  for (const name of listJson(reports)) {
    if (isReportOf(join(reports, name), name, user)) erased.reports += removeIfThere(join(reports, name));
  }
  erased.journalLines = eraseJournalLines(stateDir, user);
  // A rewrite that crashed left a whole copy of the journal (`break-glass.log.tmp-<pid>`); under
  // the journal's lock no rewrite is under way, so every copy is such a leftover.
  withJournalLock(stateDir, () => {
    for (const name of readdirSync(stateDir))
      if (name.startsWith(`${JOURNAL_FILE}.tmp-`)) rmSync(join(stateDir, name), { force: true });
  });
  appendJournal(stateDir, { event: 'local-erasure', at: clock.now(), ...erased });
  return erased;
}

function eraseJournalLines(stateDir: string, user: string): number {
  for (let attempt = 1; attempt <= JOURNAL_ATTEMPTS; attempt += 1) {
    const result = rewriteJournal(stateDir, (lines) => lines.map((line) => namesUser(line, user)));
    if (result !== 'changed-meanwhile') return result.dropped;
  }
  throw new CodedError(
    'IDG_WS_ERASE_BUSY',
    `the break-glass journal kept changing during ${JOURNAL_ATTEMPTS} attempts; run the erasure again`,
  );
}

/** By its name (`<at>-<user>.json`), or for a file named otherwise, by the user inside. */
function isReportOf(file: string, name: string, user: string): boolean {
  const named = parseReportName(name);
  if (named) return named.user === user;
  const text = readFileSync(file, 'utf8');
  try {
    return (JSON.parse(text) as { user?: unknown } | null)?.user === user;
  } catch {
    return text.includes(JSON.stringify(user)); // a corrupt one may still hold the name
  }
}

function removeIfThere(file: string): number {
  try {
    rmSync(file);
    return 1;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}
