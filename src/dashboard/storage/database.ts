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
export { redactUrl as redactDatabaseUrl } from '../../lib/redact-url.js';

/**
 * Runs `fn` with a client of its own. A connection that breaks while checked out (the server
 * restarted, the backend was terminated) emits an error on the client: it is logged instead of
 * crashing the process, and the broken client is destroyed rather than returned to the pool.
 */
export async function withClient<T>(
  pool: pg.Pool,
  log: Logger,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
    log.warn({ err: error }, 'database connection lost while in use');
  };
  client.on('error', onError);
  try {
    const result = await fn(client);
    return result;
  } catch (error) {
    broken ??= error as Error;
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * The session advisory locks that let one dashboard instance at a time run a job. Each job has its
 * own key; they are kept together so that no two jobs share one by mistake.
 */
export const JOB_LOCKS = {
  migrations: 7_220_431_001,
  gapScan: 7_220_431_002,
  retention: 7_220_431_003,
  gatewayWatch: 7_220_431_004,
} as const;

/**
 * Runs `fn` on a client of its own (see withClient) while holding the job's advisory lock, and
 * releases it after; resolves undefined without running `fn` while another session holds it.
 */
export function withJobLock<T>(
  pool: pg.Pool,
  log: Logger,
  key: number,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T | undefined> {
  return withClient(pool, log, async (client) => {
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
    if (!got.rows[0]?.ok) return undefined;
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [key]);
    }
  });
}

/** Runs `fn` in a transaction on a client of its own (see withClient). */
export function inTransaction<T>(
  pool: pg.Pool,
  log: Logger,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return withClient(pool, log, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * A PostgreSQL array literal (`{"a","b",NULL}`) of the values, for a `$n::type[]` parameter:
 * every element quoted, backslash and double quote escaped, null as NULL — what node-postgres
 * writes for a JS array, done here ahead of time so that it need not happen while a statement
 * waits to be sent (see IngestPipeline).
 */
export function arrayLiteral(values: ReadonlyArray<string | number | null | undefined>): string {
  let literal = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) literal += ',';
    const value = values[i];
    literal +=
      value === null || value === undefined
        ? 'NULL'
        : `"${String(value).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  }
  return `${literal}}`;
}

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * PostgreSQL text and jsonb cannot hold NUL, and jsonb refuses a lone UTF-16 surrogate (which
 * JSON.stringify writes as an escape): each becomes U+FFFD, so that what an attacker sent is
 * still storable.
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATES, '\uFFFD');
}

/**
 * JSON of `value` that jsonb accepts whatever text it holds: {@link storableText} on every string
 * and key. Two keys that become the same (`a\u0000` beside `a\uFFFD`) both stay: the later one
 * gets a further U+FFFD until it is unique, so no value is lost from what is kept as evidence.
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner === 'string') return storableText(inner);
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const keys = Object.keys(inner);
    if (keys.every((key) => storableText(key) === key)) return inner;
    const stored = new Map<string, unknown>();
    // Keys that need no change first: they keep their names, the changed ones make way.
    const entries = Object.entries(inner).sort(
      ([a], [b]) => Number(storableText(a) !== a) - Number(storableText(b) !== b),
    );
    for (const [key, v] of entries) {
      let name = storableText(key);
      while (stored.has(name)) name += '\uFFFD';
      stored.set(name, v);
    }
    return Object.fromEntries(stored);
  });
}

/**
 * Whether an error says the database cannot do the work now, rather than that this work can
 * never be done: a lost connection, or a resource or concurrency condition that passes — disk
 * full, out of memory, too many connections (class 53), a serialization failure or deadlock
 * (class 40), a lock timeout (55P03), a cancelled statement (57014). Such work is retried, never
 * judged by its content.
 */
export function isTransientError(error: unknown): boolean {
  const code = errorCode(error);
  return (
    isConnectionError(error) ||
    code.startsWith('53') ||
    code.startsWith('40') ||
    code === '55P03' ||
    code === '57014'
  );
}

/** Whether an error means the database is unreachable (retry) rather than that the data is bad. */
export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : undefined;
  return (
    code.startsWith('08') || // connection exceptions
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' || // admin shutdown, crash shutdown, cannot connect now
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'].includes(code) ||
    (typeof message === 'string' &&
      /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
        message,
      ))
  );
}

/** An error's code where it is text (a SQLSTATE, a system error's name); a library's number is none. */
function errorCode(error: unknown): string {
  const code = error === null || typeof error !== 'object' ? undefined : (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
}
