import type {
  DeletionEntry,
  LegalHold,
  PolicyOverview,
  RetentionReport,
  StoredPolicy,
} from '../dashboard/retention/retention-schemas.js';

/** Plain-text renderings of retention answers for the terminal. */
const fmt = (n: number) => n.toLocaleString('en-US');
const minute = (iso: string | null) => (iso ? `${iso.slice(0, 16)}Z` : '—');

/** Columns padded to their widest cell; numbers to the right. */
function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, i) => (/^[\d,]+$/.test(cell) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function entryTable(entries: ReadonlyArray<DeletionEntry & { dryRun?: boolean }>): string[] {
  return table([
    ['method', 'class', 'site', 'scope', 'span', 'rows'],
    ...entries.map((e) => [
      e.dryRun ? `${e.method} (dry run)` : e.method,
      e.dataClass,
      e.site ?? '—',
      e.scope,
      `${minute(e.from)} … ${minute(e.to)}`,
      fmt(e.count),
    ]),
  ]);
}

export function formatReport(report: RetentionReport): string[] {
  const total = report.entries.reduce((n, e) => n + e.count, 0);
  const lines = [
    report.dryRun
      ? `retention dry run ${report.runId} at ${report.startedAt}: nothing was changed`
      : `retention run ${report.runId} at ${report.startedAt}`,
  ];
  if (report.entries.length > 0) lines.push('', ...entryTable(report.entries));
  for (const held of report.held) {
    lines.push(
      `kept under legal hold ${held.holds.join(', ')}: ${fmt(held.count)} expired ${held.dataClass} rows of ${held.site ?? 'no site'}`,
    );
  }
  for (const failure of report.failures)
    lines.push(`failed: ${failure.step}: ${failure.message} [${failure.code}]`);
  lines.push(
    '',
    `${fmt(total)} rows ${report.dryRun ? 'would be' : 'were'} deleted` +
      (report.partitionsCreated > 0 ? `; ${report.partitionsCreated} partitions created ahead` : ''),
  );
  return lines;
}

export function formatPolicies(overview: PolicyOverview): string[] {
  const lines = [`default: ${overview.defaultDays} days for every class without a policy`, ''];
  lines.push(
    ...table([
      ['class', 'scopes', 'kept'],
      ...overview.classes.map((c) => [
        c.dataClass,
        c.scopes.join('/'),
        c.active ? 'centrally' : 'not yet stored',
      ]),
    ]),
  );
  if (overview.policies.length > 0) {
    lines.push(
      '',
      ...table([['class', 'scope', 'updated', 'by', 'days'], ...overview.policies.map(policyRow)]),
    );
  }
  return lines;
}

function policyRow(p: StoredPolicy): string[] {
  return [
    p.dataClass,
    p.scope === 'global' ? 'global' : `${p.scope}:${p.scopeId}`,
    minute(p.updatedAt),
    p.updatedBy,
    String(p.days),
  ];
}

export function formatHolds(holds: readonly LegalHold[]): string[] {
  if (holds.length === 0) return ['no legal holds'];
  return table([
    ['id', 'site', 'from', 'to', 'by', 'released', 'reason'],
    ...holds.map((h) => [
      String(h.id),
      h.site ?? 'every site',
      minute(h.from),
      minute(h.to),
      h.createdBy,
      h.releasedAt ? `${minute(h.releasedAt)} by ${h.releasedBy}` : '—',
      h.reason,
    ]),
  ]);
}
