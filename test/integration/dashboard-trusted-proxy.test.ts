import { randomBytes } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';

const PASSWORD = 'lantern orchard quietly 42';
const PROXY = '127.0.0.1';
/** A load balancer in front of the proxy, in the balancers' own subnet (10.0.0.0/24). */
const BALANCER = '10.0.0.5';
/** A staff workstation on the internal network, outside the balancers' subnet. */
const STAFF_CLIENT = '10.20.30.40';

/**
 * Behind a TLS-terminating proxy on loopback and load balancers
 * (`http.trustedProxies: [127.0.0.1, 10.0.0.0/24]`): the client's address, as the outermost
 * trusted proxy names it in X-Forwarded-For, counts for the sign-in throttle and the audit log;
 * what the client wrote before it, text that is no address, and a header from anyone but a proxy
 * are not believed. Against the real dashboard and PostgreSQL.
 */
describe('dashboard behind a trusted proxy', () => {
  let dashboard: Dashboard;
  let stop: () => Promise<void>;
  let db: pg.Client;
  let n = 0;

  beforeAll(async () => {
    const started = await startIngestDashboardOnNewDatabase({
      site: `proxy-${randomBytes(3).toString('hex')}`,
      gateways: [],
      publicKey: generateSigningKeyPair().publicKey,
      http: { trustedProxies: [PROXY, '10.0.0.0/24'] },
      more: { masterKey: randomBytes(32) },
    });
    dashboard = started.dashboard;
    stop = started.stop;
    db = new pg.Client({ connectionString: started.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stop?.();
  });

  const account = async () => {
    n += 1;
    const login = `proxied-${n}`;
    await dashboard.auth.createAccount(
      { login, displayName: `Proxied ${n}`, password: PASSWORD, role: 'security' },
      { tool: 'test' },
    );
    return login;
  };
  const signIn = (login: string, password: string, from: Pick<InjectOptions, 'remoteAddress' | 'headers'>) =>
    dashboard.http.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login, password },
      ...from,
    });
  const viaProxy = (forwardedFor: string) => ({
    remoteAddress: PROXY,
    headers: { 'x-forwarded-for': forwardedFor },
  });
  const addresses = async (action: string, login: string) =>
    (
      await db.query<{ details: { address: string } }>(
        'SELECT details FROM audit_log WHERE action = $1 AND (target = $2 OR actor = $2) ORDER BY id',
        [action, `staff:${login}`],
      )
    ).rows.map((r) => r.details.address);

  it("throttles the guessing client, not the proxy's address: the owner elsewhere still signs in", async () => {
    const login = await account();
    const statuses: number[] = [];
    // Until the throttle refuses the guesser (5 failures per account and address, docs/dashboard.md).
    for (let i = 0; i < 10 && !statuses.includes(429); i++)
      statuses.push((await signIn(login, `wrong guess ${i}`, viaProxy('203.0.113.66'))).statusCode);
    expect(statuses).toContain(429);

    const guesser = await signIn(login, PASSWORD, viaProxy('203.0.113.66'));
    const owner = await signIn(login, PASSWORD, viaProxy('198.51.100.7'));
    expect({ guesser: guesser.statusCode, owner: owner.statusCode }).toEqual({ guesser: 429, owner: 200 });
    expect(new Set(await addresses('staff.login-failed', login))).toEqual(new Set(['203.0.113.66']));
    expect(await addresses('staff.password-accepted', login)).toEqual(['198.51.100.7']);
  });

  it('counts the address the proxy added, not one the client wrote into the header before it', async () => {
    const login = await account();
    await signIn(login, PASSWORD, viaProxy('10.0.0.1, 198.51.100.60'));
    expect(await addresses('staff.password-accepted', login)).toEqual(['198.51.100.60']);
  });

  it('audits the client the balancer saw, not text the client wrote before it (review rv94)', async () => {
    const login = await account();
    await signIn(login, PASSWORD, viaProxy(`not an address, ${STAFF_CLIENT}, ${BALANCER}`));
    expect(await addresses('staff.password-accepted', login)).toEqual([STAFF_CLIENT]);
  });

  it('audits the last trusted hop, never text, when no address stands where the client should', async () => {
    const login = await account();
    await signIn(login, PASSWORD, viaProxy(`<b>evacuation ended</b>, ${BALANCER}`));
    expect(await addresses('staff.password-accepted', login)).toEqual([BALANCER]);
  });

  it('keeps the per-address limit on one client that writes a new address into each request (review rv94)', async () => {
    const login = await account();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push(
        (await signIn(login, `wrong guess ${i}`, viaProxy(`198.51.100.${i}, ${STAFF_CLIENT}, ${BALANCER}`)))
          .statusCode,
      );
    // 5 failures per account and address: the sixth guess from STAFF_CLIENT is refused.
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(new Set(await addresses('staff.login-failed', login))).toEqual(new Set([STAFF_CLIENT]));
  });

  it('does not believe X-Forwarded-For from an address that is not a trusted proxy', async () => {
    const login = await account();
    await signIn(login, PASSWORD, {
      remoteAddress: '192.0.2.44',
      headers: { 'x-forwarded-for': '198.51.100.61' },
    });
    expect(await addresses('staff.password-accepted', login)).toEqual(['192.0.2.44']);
  });
});
