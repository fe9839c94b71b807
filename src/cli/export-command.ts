import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AuditErrorCode } from '../dashboard/audit/audit-errors.js';
import { formatContentLine } from '../dashboard/audit/bundle-content-check.js';
import { verifyBundle } from '../dashboard/audit/bundle-verify.js';
import { type ExportProgress, writeExportBundle } from '../dashboard/audit/export-bundle.js';
import { checkExportQuery, type ExportFormat } from '../dashboard/audit/export-query.js';
import { CodedError } from '../lib/coded-error.js';
import { exportPublicKey, importPublicKey } from '../protocol/signing.js';
import type { CommandResult } from './audit-command.js';
import { centralSigning } from './central-signing-key.js';
import { ExitCode, UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';

/**
 * `identgate export …`: an auditor's signed bundle of the access log for a time range, and its
 * offline verification. Progress goes to stderr; Ctrl-C leaves no bundle behind.
 */
export const EXPORT_USAGE = `usage:
  identgate export --from <time> --to <time> [--site <id>] [--door <id>] [--person <id>]
                   [--kind <kind>[,<kind>…]] --format csv|jsonl --out <new dir> --config <dashboard.yaml>
                   times: a day (2026-03-01, from 00:00 UTC) or ISO 8601 with its zone (2026-03-01T12:00Z)
  identgate export verify <dir> [--public-key <ed25519:… | public key PEM file>] [--config <dashboard.yaml>]
                   hashes, signature, chain and content of a bundle, and the key that signed it;
                   --public-key: fail unless the operator's central public key signed it`;

export async function runExportCommand(
  argv: string[],
  stderr: (text: string) => void = (text) => process.stderr.write(text),
): Promise<CommandResult> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      from: { type: 'string' },
      to: { type: 'string' },
      site: { type: 'string' },
      door: { type: 'string' },
      person: { type: 'string' },
      kind: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      'public-key': { type: 'string' },
    },
  });
  if (positionals[0] === 'verify') {
    const dir = positionals[1];
    if (!dir || positionals.length > 2) throw new UsageError(EXPORT_USAGE);
    const trusted = values.config ? centralSigning(values.config) : undefined;
    // --config pins the signer: a configuration without the key would pin nothing, silently.
    if (trusted && !trusted.key)
      throw new CodedError(
        AuditErrorCode.noSigningKey,
        'export verify --config pins the bundle to keys.signing, which that configuration does not set',
      );
    const given = values['public-key'] === undefined ? undefined : givenPublicKey(values['public-key']);
    const configured = trusted?.key ? exportPublicKey(createPublicKey(trusted.key)) : undefined;
    const report = await verifyBundle(
      resolve(dir),
      configured ? { current: configured, retired: trusted?.retired ?? [] } : undefined,
      given,
    );
    const lines = report.ok
      ? [
          `OK: ${report.rows} rows, ${report.chained} anchored in ${report.links} chain links; files, signature and checkpoints verify; signed by ${report.signer} (${pinning(report.signer, given, configured)})`,
          formatContentLine(report.content),
        ]
      : [
          'FAILED:',
          ...report.problems.map((p) => `  ${p}`),
          ...(report.signer ? [`  (public-key.pem: ${report.signer})`] : []),
        ];
    return { lines, code: report.ok ? ExitCode.ok : ExitCode.failure };
  }
  if (positionals.length > 0) throw new UsageError(EXPORT_USAGE);
  const format = values.format;
  if (format !== 'csv' && format !== 'jsonl')
    throw new UsageError(`--format must be csv or jsonl\n\n${EXPORT_USAGE}`);
  if (!values.out) throw new UsageError(`--out <new dir> is required\n\n${EXPORT_USAGE}`);
  if (!values.config) throw new UsageError(`identgate export needs --config <dashboard.yaml>`);
  let query: ReturnType<typeof checkExportQuery>;
  try {
    query = checkExportQuery({
      from: values.from,
      to: values.to,
      site: values.site,
      door: values.door,
      person: values.person,
      kinds: values.kind?.split(','),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { key: signingKey, retired } = centralSigning(values.config);
  if (!signingKey) {
    throw new CodedError(
      AuditErrorCode.noSigningKey,
      'exports are signed with keys.signing, which is not set',
    );
  }
  const out = resolve(values.out);
  const controller = new AbortController();
  const cancel = () => controller.abort();
  process.once('SIGINT', cancel);
  process.once('SIGTERM', cancel);
  const meter = progressMeter(stderr);
  try {
    return await withDashboardDatabase(values.config, 'export', async ({ pool }) => {
      const manifest = await writeExportBundle(pool, {
        query,
        format: format as ExportFormat,
        out,
        actor: cliActor(),
        signingKey,
        retired,
        onProgress: meter.update,
        signal: controller.signal,
      });
      meter.finish(manifest.rows);
      return { lines: [`${manifest.rows} rows exported to ${out}`], code: ExitCode.ok };
    });
  } catch (error) {
    if (controller.signal.aborted) {
      stderr('\nexport cancelled; no bundle was written\n');
      return { lines: [], code: 130 };
    }
    throw error;
  } finally {
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
  }
}

/**
 * `--public-key`: the central public key as `identgate keygen signing` prints it (`ed25519:…`),
 * or a file holding that text or the key as PEM (SPKI, as a bundle's public-key.pem).
 */
function givenPublicKey(value: string): string {
  const refuse = (why: string): never => {
    throw new UsageError(`--public-key ${why}\n\n${EXPORT_USAGE}`);
  };
  let text = value;
  if (!value.startsWith('ed25519:')) {
    if (!existsSync(value)) refuse(`takes ed25519:… or a file; ${value} is neither`);
    text = readFileSync(value, 'utf8').trim();
    // createPublicKey would take a private key too, and derive its public half.
    if (text.includes('PRIVATE KEY')) refuse(`${value} is a private key; give the public key`);
  }
  try {
    return exportPublicKey(text.startsWith('ed25519:') ? importPublicKey(text) : createPublicKey(text));
  } catch (error) {
    return refuse(`${value}: not an Ed25519 public key (${(error as Error).message})`);
  }
}

/** What the OK line says of the signer: which pin it met, or that nothing pinned it. */
function pinning(
  signer: string | undefined,
  given: string | undefined,
  configured: string | undefined,
): string {
  const met = [
    ...(given ? ['the key given with --public-key'] : []),
    ...(configured
      ? [signer === configured ? 'the configured central key' : 'a key the configuration retires']
      : []),
  ];
  return met.length > 0
    ? met.join(', ')
    : "not pinned: compare it with the operator's central public key, or give that with --public-key";
}

/**
 * At most one progress line a second: rows, rate and the time left. The total comes from a
 * count that runs beside the export; until it is in, the line says rows and rate only.
 */
function progressMeter(stderr: (text: string) => void) {
  const started = performance.now();
  let shown = started - 1000; // the first batch shows at once
  const line = (p: ExportProgress, now: number) => {
    const seconds = Math.max((now - started) / 1000, 0.001);
    const rate = p.rows / seconds;
    if (p.total === undefined) return `exported ${p.rows} rows, ${Math.round(rate)} rows/s\n`;
    const eta = rate > 0 ? Math.ceil((p.total - p.rows) / rate) : 0;
    const percent = p.total > 0 ? Math.floor((100 * p.rows) / p.total) : 100;
    return `exported ${p.rows} of ${p.total} rows (${percent}%), ${Math.round(rate)} rows/s, ETA ${eta} s\n`;
  };
  return {
    update(p: ExportProgress) {
      const now = performance.now();
      if (now - shown < 1000) return;
      shown = now;
      stderr(line(p, now));
    },
    finish(rows: number) {
      stderr(line({ rows, total: rows }, performance.now()));
    },
  };
}
