import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** A fresh database on the test server for one test file, dropped afterwards. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject('databaseUrl');
  const name = `idg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // pg's Pool.end() resolves before its connections have closed: terminating one of them
        // mid-close (FORCE) surfaces as an uncaught error in the test. Let them go first; FORCE
        // is for connections a test leaked.
        const deadline = Date.now() + 2_000;
        while (Date.now() < deadline) {
          const { rows } = await client.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
            [name],
          );
          if (rows[0]?.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export function mqttUrl(): string {
  return inject('mqttUrl');
}

/** A site id no other test uses, so tests sharing one broker never see each other's topics. */
export function uniqueSite(prefix = 't'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export { testLogger } from './services-logger.js';

/**
 * Tests that need a Debian tool fail with the package to install rather than pass without
 * running (.ci/run installs them: chromium, ffmpeg, mosquitto, openssl, sslscan).
 */
export function requireTool(available: unknown, what: string, debianPackage: string): void {
  if (!available)
    throw new Error(
      `${what} is not installed; install the Debian package "${debianPackage}" to run these tests`,
    );
}
