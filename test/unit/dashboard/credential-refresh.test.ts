import { generateKeyPairSync } from 'node:crypto';
import type { Pool } from 'pg';
import { describe, expect, it } from 'vitest';
import { CredentialPublisher } from '../../../src/dashboard/credential-publisher.js';
import type { GatewayRegistry } from '../../../src/dashboard/storage/gateway-registry.js';
import type { PeopleStore } from '../../../src/dashboard/storage/people-store.js';
import { createLogger } from '../../../src/lib/logger.js';

/** The hourly refresh: one site whose sets cannot be published keeps no other from its own. */
describe('publishing every site’s credential sets', () => {
  it('goes on to the next site when one fails, and logs the one that failed', async () => {
    const lines: string[] = [];
    const sites = ['site-a', 'site-b', 'site-c'];
    const key = generateKeyPairSync('ed25519').privateKey;
    const messenger = new CredentialPublisher({
      signingKey: key,
      requireKey: () => key,
      requireClient: () => {
        throw new Error('not connected');
      },
      registry: { all: () => sites.map((site) => ({ site, id: 'gw-1' })) } as unknown as GatewayRegistry,
      people: {} as PeopleStore,
      pool: {} as Pool,
      clock: { now: () => 0 } as never,
      log: createLogger({ level: 'info', format: 'json', write: (line) => lines.push(line) }),
    });
    const tried: string[] = [];
    messenger.publishCredentials = async (site: string) => {
      tried.push(site);
      if (site === 'site-a') throw new Error('the broker did not acknowledge');
      return 1;
    };
    await messenger.publishAllCredentials();
    expect(tried).toEqual(sites);
    const failed = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 'error');
    expect(failed).toMatchObject([{ site: 'site-a', msg: 'credential sets of a site not published' }]);
  });
});
