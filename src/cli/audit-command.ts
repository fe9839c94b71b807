import { createPublicKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AuditErrorCode } from '../dashboard/audit/audit-errors.js';
import { ChainCheckpointer, listCheckpoints, pruneSignedDays } from '../dashboard/audit/chain-checkpoints.js';
import { formatVerifyReport, verifyChains } from '../dashboard/audit/chain-verifier.js';
import { resignCheckpoints } from '../dashboard/audit/checkpoint-resign.js';
import { compareWithWitness, readWitness } from '../dashboard/audit/checkpoint-witness.js';
import { beginErasureListChange } from '../dashboard/audit/erasure-list.js';
import { writeHandover } from '../dashboard/audit/key-handover.js';
import { type WitnessOutcome, WitnessReconciler } from '../dashboard/audit/witness-reconcile.js';
import { AlarmStore } from '../dashboard/storage/alarm-store.js';
import { withTransaction } from '../dashboard/storage/transaction.js';
import { CodedError } from '../lib/coded-error.js';
import { exportPublicKey } from '../protocol/signing.js';
import { centralSigning } from './central-signing-key.js';
import { ExitCode, UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate audit …`: verify the tamper-evident log against the database (exit 1 at the first
 * row that does not match) and sign the finished days' checkpoints (the dashboard does this on
 * its own every hour; the command is for operators and tests).
 */
export const AUDIT_USAGE = `usage:
  identgate audit verify [--site <id>] [--from <ISO time>] [--to <ISO time>] [--witness <file>] --config <dashboard.yaml>
                                  with a witness (audit.witnessFile, or a copy kept elsewhere):
                                  also that the database holds every witnessed checkpoint as witnessed
  identgate audit checkpoint --config <dashboard.yaml>   sign the finished days (needs keys.signing)
  identgate audit checkpoint --resign-after <date> --config <dashboard.yaml>
                                  sign anew with keys.signing the checkpoints of later days another
                                  key signed (a leaked key retired early), each chain only if it
                                  verifies as it stands (docs/security.md)
  identgate audit handover --config <dashboard.yaml>
                                  record, signed, where every chain stands now as the point the
                                  current key took over from the retired ones; a dashboard start
                                  does it itself up to the day after the last lastDay (docs/security.md)
  identgate audit prune --before <date> --config <dashboard.yaml>
                                  delete chain rows of signed days before the date (checkpoints stay);
                                  signs the erasure list it leaves with keys.signing`;

export interface CommandResult {
  lines: string[];
  code: number;
}

export function parseTime(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new UsageError(
      `${flag} must be an ISO 8601 time (2026-03-01 or 2026-03-01T12:00:00Z), not "${value}"`,
    );
  }
  return new Date(ms);
}

export async function runAuditCommand(argv: string[]): Promise<CommandResult> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      site: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      before: { type: 'string' },
      'resign-after': { type: 'string' },
      witness: { type: 'string' },
    },
  });
  const [verb, ...extra] = positionals;
  if (
    extra.length > 0 ||
    (verb !== 'verify' && verb !== 'checkpoint' && verb !== 'prune' && verb !== 'handover')
  ) {
    throw new UsageError(AUDIT_USAGE);
  }
  const configFile = values.config;
  if (!configFile) throw new UsageError(`identgate audit ${verb} needs --config <dashboard.yaml>`);
  const { key, retired } = centralSigning(configFile);
  if (verb === 'prune') {
    const before = values.before;
    if (!before || !/^\d{4}-\d{2}-\d{2}$/.test(before) || Number.isNaN(Date.parse(before))) {
      throw new UsageError('identgate audit prune needs --before <YYYY-MM-DD>');
    }
    return withDashboardDatabase(configFile, 'audit prune', async ({ pool }) => {
      // Only a log that verifies is pruned: a source deleted outside retention or an erasure is
      // "gone" to the prune too, and deleting its link would hide what verify reports now.
      const report = await verifyChains(pool, {
        ...(key ? { publicKey: createPublicKey(key) } : {}),
        retired,
      });
      if (!report.ok)
        return {
          lines: [...formatVerifyReport(report), 'nothing pruned: the log must verify first'],
          code: ExitCode.failure,
        };
      // With the erasure listing it changes, recorded and signed as it leaves it (erasure-list.ts).
      const deleted = await withTransaction(pool, async (db) => {
        const list = await beginErasureListChange(db, key, retired);
        const { deleted: pruned, bounds } = await pruneSignedDays(db, before);
        await list.record({
          actor: cliActor(),
          action: 'audit.chain.prune',
          details: { before, deleted: pruned, bounds },
        });
        return pruned;
      });
      return {
        lines: [
          `${deleted} chain rows of signed days before ${before} deleted (rows whose sources are still stored stay); their checkpoints remain`,
        ],
        code: ExitCode.ok,
      };
    });
  }
  if (verb === 'handover') {
    if (!key)
      throw new CodedError(
        AuditErrorCode.noSigningKey,
        'a handover is signed with keys.signing, which is not set',
      );
    return withDashboardDatabase(configFile, 'audit handover', async ({ pool }) => {
      const handover = await writeHandover(pool, key, { actor: cliActor() });
      return {
        lines: [
          `chains handed over to the current central key on ${handover.at}:`,
          ...[...handover.chains].map(([site, c]) => `  ${site}: up to row ${c.lastNo}, head ${c.head}`),
        ],
        code: ExitCode.ok,
      };
    });
  }
  if (verb === 'checkpoint') {
    if (!key)
      throw new CodedError(
        AuditErrorCode.noSigningKey,
        'checkpoints are signed with keys.signing, which is not set',
      );
    const after = values['resign-after'];
    if (after !== undefined) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(after) || Number.isNaN(Date.parse(after)))
        throw new UsageError('--resign-after needs a day, YYYY-MM-DD');
      return withDashboardDatabase(configFile, 'audit checkpoint', async ({ pool }) => {
        const outcomes = await resignCheckpoints(pool, key, retired, after, cliActor());
        const lines = outcomes.map((o) =>
          o.problem
            ? `${o.site}: not signed anew, the chain does not verify as it stands: ${o.problem}`
            : `${o.site}: ${o.days.length} day checkpoint(s) signed anew with keys.signing (${o.days.join(', ')})`,
        );
        return {
          lines:
            lines.length > 0
              ? lines
              : [`no checkpoint of a retired key after ${after} or beyond the handover`],
          code: outcomes.some((o) => o.problem) ? ExitCode.failure : ExitCode.ok,
        };
      });
    }
    return withDashboardDatabase(configFile, 'audit checkpoint', async ({ pool, config, log }) => {
      // As the dashboard's job: the witness first, so that no day it holds is signed anew.
      const file = config.audit?.witnessFile;
      const witness = file
        ? new WitnessReconciler({
            pool,
            file,
            keys: { current: exportPublicKey(createPublicKey(key)), retired },
            alarms: new AlarmStore(pool),
            log,
          })
        : undefined;
      const before = await witness?.reconcile();
      const made = await new ChainCheckpointer(pool, key, retired).checkpointFinishedDays();
      const after = made.length > 0 ? await witness?.reconcile() : undefined;
      const lines = made.map(
        (c) => `${c.site} ${c.day}: rows ${c.firstNo}–${c.lastNo} signed, head ${c.head}`,
      );
      const witnessLines = before ? witnessReport(file as string, before, after) : [];
      return {
        lines: [...(lines.length > 0 ? lines : ['every finished day is signed already']), ...witnessLines],
        code: before && before.problems.length > 0 ? ExitCode.failure : ExitCode.ok,
      };
    });
  }
  const from = parseTime(values.from, '--from');
  const to = parseTime(values.to, '--to');
  if (from && to && from >= to) throw new UsageError('--from must be before --to');
  return withDashboardDatabase(configFile, 'audit verify', async ({ pool, config }) => {
    const report = await verifyChains(pool, {
      ...(values.site ? { site: values.site } : {}),
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(key ? { publicKey: createPublicKey(key) } : {}),
      retired,
    });
    const lines = formatVerifyReport(report);
    const file = values.witness ?? config.audit?.witnessFile;
    if (!file) return { lines, code: report.ok ? ExitCode.ok : ExitCode.failure };
    // Read only: verify changes nothing, neither the witness nor the database.
    const reading = await readWitness(file);
    // Without any central key configured, the witnessed lines' signatures cannot be judged.
    const keys =
      key || retired.length > 0
        ? { ...(key ? { current: exportPublicKey(createPublicKey(key)) } : {}), retired }
        : undefined;
    const comparison = compareWithWitness(reading.checkpoints, await listCheckpoints(pool), keys);
    const problems = [...reading.problems, ...comparison.problems];
    return {
      lines: [
        ...lines,
        `witness ${file}: ${comparison.matched} checkpoints as witnessed, ${comparison.newer.length} not witnessed yet`,
        ...problems.map((p) => `WITNESS MISMATCH: ${p}`),
      ],
      code: report.ok && problems.length === 0 ? ExitCode.ok : ExitCode.failure,
    };
  });
}

function witnessReport(file: string, before: WitnessOutcome, after: WitnessOutcome | undefined): string[] {
  const appended = before.appended + (after?.appended ?? 0);
  return [
    `witness ${file}: ${appended} checkpoint(s) appended`,
    ...before.restored.map(
      (c) => `witness: checkpoint of ${c.site} for ${c.day} was missing and is put back`,
    ),
    ...before.problems.map((p) => `WITNESS MISMATCH: ${p}`),
  ];
}
