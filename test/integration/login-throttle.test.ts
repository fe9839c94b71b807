import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoginThrottle, MAX_WAITING_RESERVATIONS } from '../../src/dashboard/auth/login-throttle.js';
import { migrate } from '../../src/dashboard/storage/migrator.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createTestDatabase } from '../helpers/services.js';

/**
 * The sign-in throttle shares the dashboard's pool with the ingest and the door actions: a flood
 * of attempts must not hold the pool's connections while they queue for one account's lock.
 */
describe('the sign-in throttle under a flood', () => {
  let database: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let active = 0;
  let most = 0;
  /** The pool, counting the connections checked out at once. */
  let counted: pg.Pool;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 10 });
    await migrate(pool, silentLogger);
    counted = new Proxy(pool, {
      get(target, property) {
        if (property === 'connect')
          return async () => {
            const client = await target.connect();
            active += 1;
            most = Math.max(most, active);
            const release = client.release.bind(client);
            client.release = (error?: Error | boolean) => {
              active -= 1;
              return release(error);
            };
            return client;
          };
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  });

  afterAll(async () => {
    await pool.end();
    await database.drop();
  });

  it('holds one connection at a time for 40 simultaneous attempts on one account, and still counts each', async () => {
    const throttle = new LoginThrottle(counted);
    const verdicts = await Promise.all(
      Array.from({ length: 40 }, (_, i) => throttle.reserve('ada', `10.0.0.${i % 4}`)),
    );
    expect(most).toBe(1);
    // 5 per account and address, 4 addresses: 20 counted, the rest refused by their pair's limit.
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(20);
    expect(verdicts.filter((v) => !v.allowed).map((v) => !v.allowed && v.scope)).toEqual(
      Array(20).fill('account-address'),
    );
  });

  it('refuses at once, unchecked and uncounted, beyond the reservations it lets wait', async () => {
    const throttle = new LoginThrottle(counted);
    const flood = Array.from({ length: MAX_WAITING_RESERVATIONS + 5 }, (_, i) =>
      throttle.reserve(`user-${i}`, '10.9.0.1'),
    );
    const verdicts = await Promise.all(flood);
    const busy = verdicts.filter((v) => !v.allowed && v.scope === 'busy');
    expect(busy).toHaveLength(5);
    expect(busy[0]).toMatchObject({ retryAfterSeconds: 1 });
    const stored = await pool.query(
      `SELECT count(*)::int AS n FROM login_failures WHERE key = 'addr:10.9.0.1'`,
    );
    // 30 per address: the first 30 counted, the other waiting ones refused by the address limit.
    expect(stored.rows[0].n).toBe(30);
  });
});
