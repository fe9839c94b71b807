import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A fresh database on the server of `adminUrl` (tests, benches), dropped by `drop()`. No vitest
 * here: the benches use it too.
 */
export async function scratchDatabase(
  adminUrl: string,
  prefix: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
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
        // mid-close (FORCE) surfaces as an uncaught error. Let them go first; FORCE is for
        // connections that were leaked. Up to 10 s: on a loaded machine a closing connection can
        // take longer than the 2 s this waited before, and costs nothing where none is left.
        const deadline = Date.now() + 10_000;
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
