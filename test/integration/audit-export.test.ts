import { spawn } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExportCommand } from '../../src/cli/export-command.js';
import { verifyBundle } from '../../src/dashboard/audit/bundle-verify.js';
import { ChainCheckpointer } from '../../src/dashboard/audit/chain-checkpoints.js';
import { writeExportBundle } from '../../src/dashboard/audit/export-bundle.js';
import { checkExportQuery } from '../../src/dashboard/audit/export-query.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { opensslVerify, opensslVerifySums, sha256sumCheck } from '../helpers/bundle-tools.js';
import { runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { dashboardConfigFile } from '../helpers/dashboard-config-file.js';
import { DAY, HOUR, NOW, type RetentionRig, startRetentionRig } from '../helpers/retention-rig.js';

/** Auditors' exports from the command line: bundle contents, offline verification, tampering, streaming. */
describe('signed access-log exports', () => {
  let rig: RetentionRig;
  let config: { file: string; env: Record<string, string>; dir: string };
  let work: string;
  const { privateKey } = generateKeyPairSync('ed25519');
  const central = exportPublicKey(createPublicKey(privateKey));
  const from = new Date(NOW - 10 * DAY).toISOString();
  const to = new Date(NOW).toISOString();

  beforeAll(async () => {
    rig = await startRetentionRig();
    await rig.reset();
    await rig.pool.query(`INSERT INTO rooms (site, id, name) VALUES ('berlin', 'ident-1', 'Ident room 1')`);
    await rig.pool.query(
      `INSERT INTO doors (site, id, room, name) VALUES ('berlin', 'main', 'ident-1', 'Main door')`,
    );
    const granted = (person: string) => ({
      kind: 'access.granted',
      person,
      badge: `b-${person}`,
      data: { direction: 'in' },
    });
    const first = await rig.event('berlin', 3 * DAY, granted('p-1'));
    await rig.event('berlin', 3 * DAY - HOUR, {
      kind: 'access.denied',
      badge: 'b-x',
      data: { direction: 'in', reason: 'wrong-code' },
    });
    await rig.event('hamburg', 2 * DAY, granted('p-2'));
    await rig.event('berlin', 2 * DAY, {
      kind: 'video.footage-linked',
      data: { event: first.id, camera: 'cam-1', clip: { id: 'clip-0001' } },
    });
    // The first two berlin rows were written on an earlier day and are signed.
    await rig.pool.query(
      `UPDATE audit_chain SET added_at = added_at - interval '2 days' WHERE site = 'berlin' AND no <= 2`,
    );
    await new ChainCheckpointer(rig.pool, privateKey).checkpointFinishedDays();
    await rig.event('berlin', DAY, granted('p-1'));
    const keyFile = join(mkdtempSync(join(tmpdir(), 'idg-export-key-')), 'signing.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    config = dashboardConfigFile(rig.databaseUrl, `keys:\n  signing: { file: ${keyFile} }\n`);
    work = mkdtempSync(join(tmpdir(), 'idg-export-'));
  });
  afterAll(async () => {
    await rig.close();
    rmSync(work, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => runCli([...args, '--config', config.file], { env: config.env });
  const exportTo = async (name: string, ...args: string[]) => {
    const out = join(work, name);
    const result = await cli('export', '--from', from, '--to', to, '--out', out, ...args);
    expect(result.stderr).toMatch(/exported \d+ of \d+ rows/);
    expect(result.code).toBe(0);
    return out;
  };
  const copyOf = (dir: string, name: string) => {
    const copy = join(work, name);
    cpSync(dir, copy, { recursive: true });
    return copy;
  };
  let csvBundle: string;

  it('writes a CSV bundle that sha256sum -c, openssl and export verify accept', async () => {
    csvBundle = await exportTo('csv', '--format', 'csv');
    expect(readdirSync(csvBundle).sort()).toEqual([
      'SHA256SUMS',
      'SHA256SUMS.sig',
      'access-log.csv',
      'chain-content.csv',
      'chain.csv',
      'manifest.json',
      'manifest.sig',
      'public-key.pem',
    ]);
    expect(await opensslVerifySums(csvBundle)).toMatchObject({ code: 0 });
    expect(await sha256sumCheck(csvBundle)).toMatchObject({ code: 0 });
    expect(await opensslVerify(csvBundle)).toMatchObject({
      code: 0,
      out: expect.stringContaining('Signature Verified Successfully'),
    });
    const verified = await cli('export', 'verify', csvBundle);
    expect(verified.stdout).toMatch(/^OK: 4 rows, 4 anchored/);
    expect(verified.stdout).toContain(`; signed by ${central} (the configured central key)\n`);
    expect(verified.stdout).toContain("content: 4 rows hash to their chain links' digests");
    expect(verified.code).toBe(0);
    const lines = readFileSync(join(csvBundle, 'access-log.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe(
      'when,site,room,door,reader,direction,person,badge,decision,reason,event_id,gateway,sequence,clip,kind,chain_no,chain_hash',
    );
    expect(lines[1]).toMatch(
      /^2026-03-12T12:00:00\.000000Z,berlin,ident-1,main,main\/in,in,p-1,b-p-1,granted,,[0-9a-f-]{36},gw-berlin,1,cam-1\/clip-0001,access\.granted,1,[0-9a-f]{64}$/,
    );
    expect(lines[2]).toMatch(/,berlin,ident-1,main,main\/in,in,,b-x,denied,wrong-code,/);
    const manifest = JSON.parse(readFileSync(join(csvBundle, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ rows: 4, format: 'csv', query: { from, to } });
    const berlin = manifest.chain.find((s: { site: string }) => s.site === 'berlin');
    expect(berlin).toMatchObject({
      firstNo: 1,
      lastNo: 4,
      checkpoints: [{ day: expect.any(String), firstNo: 1, lastNo: 2 }],
    });
    const audit = await rig.pool.query(`SELECT actor, details FROM audit_log WHERE action = 'audit.export'`);
    expect(audit.rows[0]).toMatchObject({
      actor: expect.stringMatching(/^cli:/),
      details: {
        rows: 4,
        format: 'csv',
        query: { from, to },
        manifestSha256: createHash('sha256')
          .update(readFileSync(join(csvBundle, 'manifest.json')))
          .digest('hex'),
      },
    });
  });

  it('writes JSONL with only the rows the filters select', async () => {
    const out = await exportTo('jsonl-p1', '--format', 'jsonl', '--person', 'p-1', '--kind', 'access');
    const rows = readFileSync(join(out, 'access-log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.site, r.person, r.decision, r.sequence])).toEqual([
      ['berlin', 'p-1', 'granted', 1],
      ['berlin', 'p-1', 'granted', 4],
    ]);
    expect(await sha256sumCheck(out)).toMatchObject({ code: 0 });
    const current = exportPublicKey(createPublicKey(privateKey));
    expect(await verifyBundle(out, { current, retired: [] })).toMatchObject({
      ok: true,
      rows: 2,
      chained: 2,
    });
  });

  describe('the signer', () => {
    const verify = (dir: string, ...args: string[]) => runExportCommand(['verify', dir, ...args]);
    const forger = generateKeyPairSync('ed25519').privateKey;
    let forged: string;
    beforeAll(async () => {
      forged = join(work, 'forged');
      await writeExportBundle(rig.pool, {
        // Hamburg's chain has no checkpoint (the central key's) for the forger to sign over.
        query: checkExportQuery({ from, to, site: 'hamburg' }),
        format: 'csv',
        out: forged,
        actor: 'cli:forger',
        signingKey: forger,
      });
    });

    it('is named on the OK line, which says that nothing pinned it', async () => {
      const result = await verify(forged);
      expect(result.code).toBe(0);
      expect(result.lines[0]).toMatch(/^OK: 1 rows, 1 anchored/);
      expect(result.lines[0]).toContain(
        `; signed by ${exportPublicKey(createPublicKey(forger))} (not pinned: compare it with the operator's central public key, or give that with --public-key)`,
      );
    });

    it('must be the key --public-key gives, as ed25519:… or as a PEM file', async () => {
      const pem = join(work, 'central-public.pem');
      writeFileSync(pem, createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }));
      for (const key of [central, pem]) {
        const result = await verify(csvBundle, '--public-key', key);
        expect(result.code).toBe(0);
        expect(result.lines[0]).toContain(`; signed by ${central} (the key given with --public-key)`);
      }
      const refused = await verify(forged, '--public-key', central);
      expect(refused.code).toBe(1);
      expect(refused.lines).toEqual([
        'FAILED:',
        `  the bundle is signed by ${exportPublicKey(createPublicKey(forger))}, not by the key given, ${central}`,
        `  (public-key.pem: ${exportPublicKey(createPublicKey(forger))})`,
      ]);
      const cliRefused = await runCli(['export', 'verify', forged, '--public-key', pem], { env: config.env });
      expect(cliRefused.code).toBe(1);
      expect(cliRefused.stdout).toMatch(/^FAILED:\n {2}the bundle is signed by /);
    });

    it('is pinned by --public-key without the private key, which is refused as a public key', async () => {
      const secret = join(work, 'central-private.pem');
      writeFileSync(secret, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      await expect(verify(csvBundle, '--public-key', secret)).rejects.toThrow(
        `--public-key ${secret} is a private key; give the public key`,
      );
      await expect(verify(csvBundle, '--public-key', 'ed25519:short')).rejects.toThrow(
        /^--public-key ed25519:short: not an Ed25519 public key/,
      );
      const usage = await runCli(['export', 'verify', csvBundle, '--public-key', join(work, 'nothing')]);
      expect(usage.code).toBe(64);
      expect(usage.stderr).toContain('is neither');
    });
  });

  it.each([
    [
      'a changed row',
      (dir: string) => edit(dir, 'access-log.csv', (t) => t.replace('p-1,b-p-1', 'p-7,b-p-1')),
    ],
    [
      'a deleted row',
      (dir: string) =>
        edit(dir, 'access-log.csv', (t) =>
          t
            .split('\n')
            .filter((_, i) => i !== 2)
            .join('\n'),
        ),
    ],
    ['reordered rows', (dir: string) => edit(dir, 'access-log.csv', (t) => swapLines(t, 1, 2))],
    ['a changed chain link', (dir: string) => edit(dir, 'chain.csv', (t) => swapLines(t, 1, 2))],
    ['a deleted file', (dir: string) => rmSync(join(dir, 'chain.csv'))],
    [
      'a changed manifest',
      (dir: string) => edit(dir, 'manifest.json', (t) => t.replace('"rows": 4', '"rows": 3')),
    ],
  ])('fails verification after %s', async (_, tamper) => {
    const dir = copyOf(csvBundle, `tampered-${Math.random().toString(36).slice(2)}`);
    tamper(dir);
    const standard = [await opensslVerifySums(dir), await sha256sumCheck(dir), await opensslVerify(dir)];
    expect(standard.some((r) => r.code !== 0)).toBe(true);
    const result = await cli('export', 'verify', dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^FAILED:/);
  });

  it('fails verification when rows are changed and every hash is recomputed, as only the signature is left', async () => {
    const dir = copyOf(csvBundle, 'rehashed');
    edit(dir, 'access-log.csv', (t) => t.replace('p-1,b-p-1', 'p-7,b-p-1'));
    await rehash(dir);
    expect(await sha256sumCheck(dir)).toMatchObject({ code: 0 });
    expect((await opensslVerify(dir)).code).not.toBe(0);
    expect((await verifyBundle(dir)).problems).toContain('the signature over manifest.json does not verify');
  });

  it('fails the signed SHA256SUMS when a row is changed and only SHA256SUMS is recomputed', async () => {
    const dir = copyOf(csvBundle, 'resummed');
    edit(dir, 'access-log.csv', (t) => t.replace('p-1,b-p-1', 'p-7,b-p-1'));
    const names = ['access-log.csv', 'chain.csv', 'public-key.pem', 'manifest.json', 'manifest.sig'];
    const { createHash } = await import('node:crypto');
    const sha = (name: string) =>
      createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex');
    writeFileSync(join(dir, 'SHA256SUMS'), names.map((n) => `${sha(n)}  ${n}\n`).join(''));
    expect(await sha256sumCheck(dir)).toMatchObject({ code: 0 });
    expect(await opensslVerify(dir)).toMatchObject({ code: 0 });
    expect((await opensslVerifySums(dir)).code).not.toBe(0);
    expect((await verifyBundle(dir)).problems).toContain('the signature over SHA256SUMS does not verify');
  });

  it('refuses an existing output directory and a bad time with clear errors', async () => {
    const exists = await cli('export', '--from', from, '--to', to, '--format', 'csv', '--out', csvBundle);
    expect(exists).toMatchObject({ code: 1, stderr: expect.stringContaining('exists already') });
    const badTime = await cli(
      'export',
      '--from',
      'last week',
      '--to',
      to,
      '--format',
      'csv',
      '--out',
      join(work, 'x'),
    );
    expect(badTime).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('from must be an ISO 8601 day (2026-03-01, from 00:00 UTC) or time'),
    });
    const badFormat = await cli(
      'export',
      '--from',
      from,
      '--to',
      to,
      '--format',
      'xml',
      '--out',
      join(work, 'x'),
    );
    expect(badFormat).toMatchObject({
      code: 64,
      stderr: expect.stringContaining('--format must be csv or jsonl'),
    });
  });

  describe('200,000 rows', () => {
    beforeAll(async () => {
      const day = new Date(NOW - 5 * DAY).toISOString().slice(0, 10);
      await rig.pool.query('SELECT identgate_ensure_event_partitions($1::date, $1::date)', [day]);
      await rig.pool.query(
        `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
         SELECT gen_random_uuid(), $1::date + i * interval '400 milliseconds', 1, 'hamburg', 'gw-bulk', i,
                'access.granted', 'main', 'p-' || (i % 500),
                jsonb_build_object('door', 'main', 'direction', 'in', 'person', 'p-' || (i % 500),
                                   'badge', 'b-' || (i % 500), 'factors', jsonb_build_array('badge', 'totp'), 'unlockMs', 5000),
                'bulk-signature'
           FROM generate_series(1, 200000) AS i`,
        [day],
      );
    }, 300_000);

    /** Runs the export in a child under /usr/bin/time; returns its maximum resident set in MB. */
    const measured = async (out: string, format: string, range: [string, string]) => {
      const entry = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url));
      const child = spawn(
        '/usr/bin/time',
        [
          '-f',
          'max-rss-kb %M',
          process.execPath,
          '--import',
          'tsx',
          entry,
          'export',
          '--from',
          range[0],
          '--to',
          range[1],
          '--site',
          'hamburg',
          '--format',
          format,
          '--out',
          out,
          '--config',
          config.file,
        ],
        { env: { ...process.env, ...config.env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      const code = await new Promise((resolve) => child.on('close', resolve));
      expect(code).toBe(0);
      return Number(/max-rss-kb (\d+)/.exec(stderr)?.[1]) / 1024;
    };

    it.each(['csv', 'jsonl'])(
      'exports them as %s in flat memory',
      async (format) => {
        const day = Date.parse(new Date(NOW - 5 * DAY).toISOString().slice(0, 10));
        const small = await measured(join(work, `small-${format}`), format, [
          new Date(day).toISOString(),
          new Date(day + 40_000).toISOString(),
        ]);
        const out = join(work, `large-${format}`);
        const large = await measured(out, format, [
          new Date(day).toISOString(),
          new Date(day + DAY).toISOString(),
        ]);
        expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).rows).toBe(200_000);
        expect(await verifyBundle(out)).toMatchObject({
          ok: true,
          rows: 200_000,
          chained: 200_000,
          content: { rechecked: 200_000, erased: 0 },
        });
        // 200k rows are ~40 MB of output; a non-streaming export would hold them all.
        expect(large).toBeLessThan(small + 40);
        expect(large).toBeLessThan(300);
      },
      300_000,
    );

    it.each(['csv', 'jsonl'])(
      'leaves no %s bundle and no partial directory when cancelled',
      async (format) => {
        const dir = mkdtempSync(join(tmpdir(), 'idg-cancel-'));
        const out = join(dir, 'bundle');
        const child = spawnCli(
          ['export', '--from', from, '--to', to, '--format', format, '--out', out, '--config', config.file],
          { env: config.env },
        );
        // Until the count beside it is in, progress has rows and no total.
        await waitForOutput(child, /exported \d+ (of 200\d{3} )?rows/);
        child.kill('SIGINT');
        const code = await new Promise((resolve) => child.on('close', resolve));
        expect(code).toBe(130);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir)).toEqual([]);
      },
      120_000,
    );
  });
});

function edit(dir: string, name: string, change: (text: string) => string): void {
  const path = join(dir, name);
  writeFileSync(path, change(readFileSync(path, 'utf8')));
}

function swapLines(text: string, a: number, b: number): string {
  const lines = text.split('\n');
  [lines[a], lines[b]] = [lines[b] as string, lines[a] as string];
  return lines.join('\n');
}

/** What a forger would do: recompute every hash, in the manifest and in SHA256SUMS. */
async function rehash(dir: string): Promise<void> {
  const { createHash } = await import('node:crypto');
  const sha = (name: string) =>
    createHash('sha256')
      .update(readFileSync(join(dir, name)))
      .digest('hex');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const f of manifest.files) f.sha256 = sha(f.name);
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const names = [...manifest.files.map((f: { name: string }) => f.name), 'manifest.json', 'manifest.sig'];
  writeFileSync(join(dir, 'SHA256SUMS'), names.map((n) => `${sha(n)}  ${n}\n`).join(''));
}
