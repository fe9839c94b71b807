import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyBundle } from '../../src/dashboard/audit/bundle-verify.js';
import { opensslVerify, sha256sumCheck } from '../helpers/bundle-tools.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { until } from '../helpers/wait.js';

const run = promisify(execFile);

/** Auditors' signed exports from the dashboard: role, re-authentication, the .tar download, the audit entry. */
describe('export from the dashboard', () => {
  let system: TestSystem;
  let pool: pg.Pool;
  const from = '2026-02-01T00:00:00.000Z';
  const to = '2026-02-02T00:00:00.000Z';
  // The dashboard's temporary directory, this file's own: what a download leaves there is seen.
  const previousTmp = process.env.TMPDIR;
  const temp = mkdtempSync(join(tmpdir(), 'idg-export-test-'));

  beforeAll(async () => {
    process.env.TMPDIR = temp;
    system = await startTestSystem();
    pool = new pg.Pool({ connectionString: system.databaseUrl, max: 1 });
    await pool.query(`SELECT identgate_ensure_event_partitions('2026-02-01', '2026-02-01')`);
    await pool.query(
      `INSERT INTO events (id, occurred_at, schema_version, site, gateway, seq, kind, door, person, data, signature)
       SELECT gen_random_uuid(), '2026-02-01T08:00:00Z'::timestamptz + i * interval '1 minute', 1, $1, 'gw-1', 100000 + i,
              'access.granted', 'main', 'p-' || i,
              jsonb_build_object('door', 'main', 'direction', 'in', 'person', 'p-' || i, 'badge', 'b-' || i,
                                 'factors', jsonb_build_array('badge', 'totp'), 'unlockMs', 5000), 'sig'
         FROM generate_series(1, 3) AS i`,
      [system.site],
    );
  }, 120_000);
  afterAll(async () => {
    await pool?.end();
    await system?.stop();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
    rmSync(temp, { recursive: true, force: true });
  });

  const bundleDirs = () => readdirSync(temp).filter((name) => name.startsWith('idg-export-'));

  const body = { from, to, format: 'csv' };

  it('is for auditors only', async () => {
    const security = await system.staff('security');
    const response = await security.request('POST', '/api/v1/exports', body);
    expect(response.statusCode).toBe(403);
  });

  it('asks an auditor to confirm password and code first', async () => {
    const auditor = await system.staff('auditor');
    const response = await auditor.request('POST', '/api/v1/exports', body);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'IDG_AUTH_REAUTH' });
  });

  it('sends a re-authenticated auditor a tar of a bundle that verifies, and audits it', async () => {
    const auditor = await system.staff('auditor');
    await auditor.reauth();
    const refused = await auditor.request('POST', '/api/v1/exports', { ...body, from: to, to: from });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toContain('from must be before to');
    const response = await auditor.request('POST', '/api/v1/exports', body);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-tar');
    expect(response.headers['content-disposition']).toBe(
      'attachment; filename="identgate-export-2026-02-01-2026-02-02.tar"',
    );
    const dir = mkdtempSync(join(tmpdir(), 'idg-tar-'));
    writeFileSync(join(dir, 'bundle.tar'), response.rawPayload);
    await run('tar', ['-xf', 'bundle.tar'], { cwd: dir });
    const bundle = join(dir, 'identgate-export-2026-02-01-2026-02-02');
    expect(readdirSync(bundle)).toHaveLength(8);
    expect((await sha256sumCheck(bundle)).code).toBe(0);
    const signature = await opensslVerify(bundle);
    expect(signature.code).toBe(0);
    expect(signature.out).toContain('Signature Verified Successfully');
    expect(await verifyBundle(bundle)).toMatchObject({
      ok: true,
      rows: 3,
      chained: 3,
      content: { rechecked: 3, erased: 0 },
    });
    // Sent: nothing of it stays on the dashboard.
    await vi.waitFor(() => expect(bundleDirs()).toEqual([]), { timeout: 10_000, interval: 20 });
    const audit = await pool.query(`SELECT actor, details FROM audit_log WHERE action = 'audit.export'`);
    const manifestSha256 = createHash('sha256')
      .update(readFileSync(join(bundle, 'manifest.json')))
      .digest('hex');
    expect(audit.rows).toEqual([
      {
        actor: `staff:${auditor.login}`,
        details: { query: { from, to }, format: 'csv', rows: 3, manifestSha256 },
      },
    ]);
  });

  it('removes the bundle of a download broken off while the bundle is built', async () => {
    const auditor = await system.staff('auditor');
    await auditor.reauth();
    // The bundle's audit entry waits for this lock: the client gives up while the bundle is built.
    const blocker = new pg.Client({ connectionString: system.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE');
    const server = system.dashboard.http.server;
    let onRequest: (request: http.IncomingMessage, response: http.ServerResponse) => void = () => {};
    const responseClosed = new Promise<void>((resolve) => {
      onRequest = (request, response) => {
        if (request.url === '/api/v1/exports') response.once('close', () => resolve());
      };
    });
    server.on('request', onRequest);
    const download = http.request(`${system.dashboard.url}/api/v1/exports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: auditor.cookie, 'x-csrf-token': auditor.csrf },
    });
    download.on('error', () => undefined);
    download.end(JSON.stringify(body));
    try {
      const made = await vi.waitFor(
        () => {
          const dirs = bundleDirs();
          if (dirs.length === 0) throw new Error('no bundle directory yet');
          return dirs;
        },
        { timeout: 20_000, interval: 20 },
      );
      download.destroy();
      await responseClosed;
      await blocker.query('COMMIT');
      await vi.waitFor(
        () => {
          if (made.some((name) => existsSync(join(temp, name)))) throw new Error(`${made} still there`);
        },
        { timeout: 20_000, interval: 50 },
      );
    } finally {
      server.off('request', onRequest);
      await blocker.end();
    }
  });

  it('builds at most two bundles at once and answers 429 to a third, so exports cannot take the ingest’s connections', async () => {
    const auditor = await system.staff('auditor');
    await auditor.reauth();
    // Both bundles' audit entries wait for this lock, so both stay being built.
    const blocker = new pg.Client({ connectionString: system.databaseUrl });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE');
    let released = false;
    try {
      const first = auditor.request('POST', '/api/v1/exports', body);
      const second = auditor.request('POST', '/api/v1/exports', body);
      await until(async () => {
        const waiting = await pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%audit_log%'`,
        );
        return waiting.rows[0].n >= 2;
      }, 'both exports waiting for the audit log');
      const third = await auditor.request('POST', '/api/v1/exports', body);
      expect(third.statusCode).toBe(429);
      expect(third.json()).toMatchObject({ code: 'IDG_EXPORT_BUSY' });
      expect(third.headers['retry-after']).toBe('30');
      await blocker.query('COMMIT');
      released = true;
      expect((await first).statusCode).toBe(200);
      expect((await second).statusCode).toBe(200);
      // Once they are done, the next one is built.
      expect((await auditor.request('POST', '/api/v1/exports', body)).statusCode).toBe(200);
    } finally {
      if (!released) await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  });

  it('refuses with 409, naming the row, to sign a bundle over an event changed after it was chained', async () => {
    const auditor = await system.staff('auditor');
    await auditor.reauth();
    // The first of the day's events, p-1's.
    const changed = await pool.query<{ id: string }>(
      `UPDATE events SET person = 'someone-else'
        WHERE id = (SELECT id FROM events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at LIMIT 1)
       RETURNING id`,
      [from, to],
    );
    const id = changed.rows[0]?.id as string;
    try {
      const before = bundleDirs().length;
      const response = await auditor.request('POST', '/api/v1/exports', body);
      expect(response.statusCode, response.body).toBe(409);
      expect(response.json()).toMatchObject({ code: 'IDG_AUDIT_CHAIN_BROKEN' });
      expect(response.json().message).toContain(id);
      expect(bundleDirs()).toHaveLength(before);
    } finally {
      await pool.query(`UPDATE events SET person = 'p-1' WHERE id = $1`, [id]);
    }
  });
});
