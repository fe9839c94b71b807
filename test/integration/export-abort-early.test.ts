import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportRoutes } from '../../src/dashboard/http/routes/export-routes.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * An auditor's export whose client is gone before the route runs (it left while its password and
 * code were checked): no bundle is built, so none can be left behind in the temporary directory.
 */
describe('an export given up before it began', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  const previous = process.env.TMPDIR;
  const temp = mkdtempSync(join(tmpdir(), 'idg-export-early-'));

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool, silentLogger);
    process.env.TMPDIR = temp;
  });
  afterAll(async () => {
    await pool?.end();
    await database?.drop();
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(temp, { recursive: true, force: true });
  });

  it('builds nothing and leaves nothing when the client left during the checks before it', async () => {
    const lines: Array<{ msg?: string }> = [];
    let notBuilt: () => void = () => {};
    const given = new Promise<void>((resolve) => {
      notBuilt = resolve;
    });
    const stream = new Writable({
      write(chunk, _encoding, done) {
        const line = JSON.parse(chunk.toString());
        lines.push(line);
        if (line.msg === 'export not built: the client left before it began') notBuilt();
        done();
      },
    });
    const app = Fastify({ logger: { level: 'info', stream } });
    let reached: () => void = () => {};
    const checking = new Promise<void>((resolve) => {
      reached = resolve;
    });
    // Stands in for the re-authentication: it ends once the client has gone.
    app.addHook('preHandler', async (request) => {
      const gone = new Promise((resolve) => request.raw.socket.once('close', resolve));
      reached();
      await gone;
      (request as unknown as { auth: unknown }).auth = { account: { login: 'auditor' } };
    });
    await app.register(exportRoutes, { pool, signingKey: generateSigningKeyPair().privateKey });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as { port: number };
      const body = JSON.stringify({
        from: '2026-01-01T00:00:00Z',
        to: '2026-01-02T00:00:00Z',
        format: 'csv',
      });
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /api/v1/exports HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
        );
      });
      await checking;
      socket.destroy();
      await given;
      expect(readdirSync(temp).filter((name) => name.startsWith('idg-export-'))).toEqual([]);
      const audited = await pool.query(`SELECT 1 FROM audit_log WHERE action = 'audit.export'`);
      expect(audited.rowCount).toBe(0);
    } finally {
      await app.close();
    }
  });
});
