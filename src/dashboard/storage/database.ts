import pg from 'pg';
import type { DatabaseConfig } from '../../config/dashboard-config.js';
import type { Logger } from '../../lib/logger.js';

/** The connection pool. An idle connection that dies (database restart) is logged, not fatal. */
export function createPool(config: DatabaseConfig, password: string | undefined, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withPassword(config.url, password),
    max: config.poolSize,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'identgate-dashboard',
  });
  pool.on('error', (error) => log.warn({ err: error }, 'database connection lost; it will be replaced'));
  return pool;
}

/**
 * pg lets values parsed from the connection string win over separate options, so the password
 * (from a secret file or the environment, never from YAML) is put into the URL in memory only.
 */
function withPassword(url: string, password: string | undefined): string {
  if (password === undefined) return url;
  const parsed = new URL(url);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** postgres URLs in logs never carry a password. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}
