import type { Pool } from 'pg';

/**
 * Throttles password and code guessing without letting an attacker lock the real user out:
 * failures are counted per source address, per account and address, and per account from all
 * addresses. The first two block (only that address, or that address for that account); the
 * account-wide count only slows every attempt on that account down, so a flood from elsewhere
 * cannot shut its owner out for good.
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

export type ThrottleVerdict =
  | { allowed: true }
  | { allowed: false; retryAfterSeconds: number; scope: string };

const keys = (login: string, address: string) => ({
  address: `addr:${address}`,
  pair: `pair:${login.toLowerCase()}:${address}`,
  account: `acct:${login.toLowerCase()}`,
});

export class LoginThrottle {
  constructor(
    private readonly pool: Pool,
    private readonly limits: ThrottleLimits = DEFAULT_LIMITS,
  ) {}

  async check(login: string, address: string): Promise<ThrottleVerdict> {
    const k = keys(login, address);
    const result = await this.pool.query<{ key: string; n: string; last: Date | null }>(
      `SELECT key, count(*) AS n, max(at) AS last FROM login_failures
        WHERE key = ANY($1) AND at > now() - ($2 || ' milliseconds')::interval GROUP BY key`,
      [[k.address, k.pair, k.account], String(this.limits.windowMs)],
    );
    const count = (key: string) => Number(result.rows.find((r) => r.key === key)?.n ?? 0);
    const windowS = Math.ceil(this.limits.windowMs / 1000);
    if (count(k.address) >= this.limits.perAddress)
      return { allowed: false, retryAfterSeconds: windowS, scope: 'address' };
    if (count(k.pair) >= this.limits.perAccountAddress)
      return { allowed: false, retryAfterSeconds: windowS, scope: 'account-address' };
    if (count(k.account) >= this.limits.perAccount) {
      const last = result.rows.find((r) => r.key === k.account)?.last?.getTime() ?? 0;
      const wait = last + this.limits.accountSlowdownMs - Date.now();
      if (wait > 0) return { allowed: false, retryAfterSeconds: Math.ceil(wait / 1000), scope: 'account' };
    }
    return { allowed: true };
  }

  async fail(login: string, address: string): Promise<void> {
    const k = keys(login, address);
    await this.pool.query('INSERT INTO login_failures (key) SELECT unnest($1::text[])', [
      [k.address, k.pair, k.account],
    ]);
  }

  /** A success clears the account's failures from that address. */
  async succeed(login: string, address: string): Promise<void> {
    await this.pool.query('DELETE FROM login_failures WHERE key = $1', [keys(login, address).pair]);
  }

  async purge(): Promise<void> {
    await this.pool.query(`DELETE FROM login_failures WHERE at < now() - interval '1 day'`);
  }
}
