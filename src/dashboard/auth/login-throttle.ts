import type { Pool } from 'pg';
import { withTransaction } from '../storage/transaction.js';

/**
 * Throttles password and code guessing without letting an attacker lock the real user out:
 * failures are counted per source address, per account and address, and per account from all
 * addresses. The first two block (only that address, or that address for that account); the
 * account-wide count only slows every attempt on that account down, so a flood from elsewhere
 * cannot shut its owner out for good.
 *
 * An attempt is counted as a failure from the moment it starts (`reserve`), before the password
 * or code is checked, and uncounted when it succeeds (`release`): so parallel guesses cannot all
 * pass the check before any of them is counted. Counting and reserving are one step under
 * advisory locks on the attempt's keys, so at most the allowed number of guesses per key are
 * ever checked, however many arrive at once.
 */
export interface ThrottleLimits {
  windowMs: number;
  perAddress: number;
  perAccountAddress: number;
  perAccount: number;
  /** Once the account-wide count is reached, one attempt per this interval. */
  accountSlowdownMs: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = {
  windowMs: 15 * 60_000,
  perAddress: 30,
  perAccountAddress: 5,
  perAccount: 50,
  accountSlowdownMs: 30_000,
};

export type ThrottleRefusal = { allowed: false; retryAfterSeconds: number; scope: string };

/** A started attempt, counted as a failure until released. */
export interface Reservation {
  allowed: true;
  keys: string[];
  /** The rows' time as PostgreSQL wrote it (text: a JavaScript Date would lose the microseconds). */
  at: string;
}

const keysOf = (login: string, address: string) => ({
  address: `addr:${address}`,
  pair: `pair:${login.toLowerCase()}:${address}`,
  account: `acct:${login.toLowerCase()}`,
});

/**
 * Reservations waiting their turn in one instance before new ones are refused at once (scope
 * `busy`): a flood of sign-ins waits in memory, not in the database.
 */
export const MAX_WAITING_RESERVATIONS = 200;

export class LoginThrottle {
  /** The reservation under way; the next one starts when it has ended. */
  private turn: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(
    private readonly pool: Pool,
    private readonly limits: ThrottleLimits = DEFAULT_LIMITS,
  ) {}

  /**
   * Counts the attempt as a failure unless a limit is reached already, in which case it is refused
   * and not counted. The caller releases the reservation when the password or code was right.
   *
   * One reservation at a time per instance: each holds a pooled connection while it waits for the
   * advisory locks of its keys, and the pool is the ingest's and the door actions' too, so a flood
   * of sign-ins for one account must not take every connection while they queue for its lock.
   * Reservations take a few milliseconds; beyond MAX_WAITING_RESERVATIONS waiting, an attempt is
   * refused unchecked and uncounted.
   */
  async reserve(login: string, address: string): Promise<Reservation | ThrottleRefusal> {
    if (this.waiting >= MAX_WAITING_RESERVATIONS)
      return { allowed: false, retryAfterSeconds: 1, scope: 'busy' };
    this.waiting += 1;
    const run = this.turn.then(() => this.reserveNow(login, address));
    this.turn = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      this.waiting -= 1;
    }
  }

  private async reserveNow(login: string, address: string): Promise<Reservation | ThrottleRefusal> {
    const k = keysOf(login, address);
    const keys = [k.address, k.pair, k.account];
    return withTransaction(this.pool, async (db) => {
      // Always in the same (sorted) order, so two attempts sharing keys cannot deadlock.
      for (const key of [...new Set(keys)].sort()) {
        await db.query(
          `SELECT pg_advisory_xact_lock(hashtextextended('identgate-login-throttle:' || $1, 0))`,
          [key],
        );
      }
      const result = await db.query<{ key: string; n: number; wait_ms: number }>(
        `SELECT key, count(*)::int AS n,
                ceil(extract(epoch FROM max(at) + ($3 || ' milliseconds')::interval - clock_timestamp()) * 1000)::int AS wait_ms
           FROM login_failures
          WHERE key = ANY($1) AND at > clock_timestamp() - ($2 || ' milliseconds')::interval GROUP BY key`,
        [keys, String(this.limits.windowMs), String(this.limits.accountSlowdownMs)],
      );
      const row = (key: string) => result.rows.find((r) => r.key === key);
      const count = (key: string) => row(key)?.n ?? 0;
      const windowS = Math.ceil(this.limits.windowMs / 1000);
      if (count(k.address) >= this.limits.perAddress)
        return { allowed: false, retryAfterSeconds: windowS, scope: 'address' };
      if (count(k.pair) >= this.limits.perAccountAddress)
        return { allowed: false, retryAfterSeconds: windowS, scope: 'account-address' };
      const wait = row(k.account)?.wait_ms ?? 0;
      if (count(k.account) >= this.limits.perAccount && wait > 0)
        return { allowed: false, retryAfterSeconds: Math.ceil(wait / 1000), scope: 'account' };
      // clock_timestamp(), not now(): the time after the locks, in the order the attempts counted.
      const inserted = await db.query<{ at: string }>(
        `INSERT INTO login_failures (key, at) SELECT k, t FROM unnest($1::text[]) AS k, clock_timestamp() AS t
         RETURNING at::text AS at`,
        [keys],
      );
      return { allowed: true, keys, at: (inserted.rows[0] as { at: string }).at };
    });
  }

  /**
   * Uncounts an attempt whose password or code was right. Rows of one key and one time cannot be
   * told apart, so removing one of them per key undoes exactly this reservation.
   */
  async release(reservation: Reservation): Promise<void> {
    await this.pool.query(
      `DELETE FROM login_failures WHERE ctid IN (
         SELECT DISTINCT ON (key) ctid FROM login_failures WHERE key = ANY($1) AND at = $2::timestamptz)`,
      [reservation.keys, reservation.at],
    );
  }

  /** A completed sign-in clears the account's failures from that address. */
  async succeed(login: string, address: string): Promise<void> {
    await this.pool.query('DELETE FROM login_failures WHERE key = $1', [keysOf(login, address).pair]);
  }

  async purge(): Promise<void> {
    await this.pool.query(`DELETE FROM login_failures WHERE at < now() - interval '1 day'`);
  }
}
