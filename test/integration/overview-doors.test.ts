import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import { deriveOverview } from '../../src/dashboard/monitoring/overview.js';
import { OverviewStore } from '../../src/dashboard/storage/overview-store.js';
import { silentLogger } from '../../src/lib/logger.js';
import { generateSigningKeyPair } from '../../src/protocol/signing.js';
import { topics } from '../../src/protocol/topics.js';
import { signedEvent } from '../helpers/events.js';
import { startIngestDashboardOnNewDatabase } from '../helpers/ingest-dashboard.js';
import { uniqueSite } from '../helpers/services.js';

/**
 * Which doors a door action may name (OverviewStore.knowsDoor): those in the directory, those a
 * gateway's stored events named, and those its latest `gateway.online` listed within the look-back
 * week. Events go through the real ingest, so the overview's facts are the ones it keeps.
 */
const keys = generateSigningKeyPair();
const site = uniqueSite('doors');
const DAY = 86_400_000;
let dashboard: Dashboard;
let overview: OverviewStore;
let stop: (() => Promise<void>) | undefined;
let seq = 0;

beforeAll(async () => {
  ({ dashboard, stop } = await startIngestDashboardOnNewDatabase({
    site,
    gateways: ['gw-1', 'gw-2', 'gw-old'],
    publicKey: keys.publicKey,
  }));
  overview = new OverviewStore(dashboard.pool, silentLogger);
  await dashboard.pool.query(`INSERT INTO sites (id, name) VALUES ($1, 'test site')`, [site]);
  await dashboard.pool.query(`INSERT INTO rooms (site, id, name) VALUES ($1, 'ident-1', 'Ident 1')`, [site]);
  await dashboard.pool.query(
    `INSERT INTO doors (site, id, room, name) VALUES ($1, 'listed', 'ident-1', 'In the directory')`,
    [site],
  );
});

afterAll(async () => {
  await stop?.();
});

async function store(gateway: string, kind: string, data: object, agoMs = 0) {
  const envelope = signedEvent(
    { site, gateway, seq: ++seq, kind, data, time: new Date(Date.now() - agoMs).toISOString() },
    keys.privateKey,
  );
  const [outcome] = await dashboard.ingest.process(
    topics.events(site, gateway),
    Buffer.from(JSON.stringify(envelope)),
  );
  expect(outcome?.status).toBe('stored');
}

describe('the doors a door action may name', () => {
  it('are those of the directory, of stored events, and of the latest gateway.online within the week', async () => {
    await store('gw-1', 'gateway.online', { version: 't', doors: ['front', 'back'] }, 2 * DAY);
    await store('gw-1', 'door.opened', { door: 'side', authorised: true });
    await store('gw-old', 'gateway.online', { version: 't', doors: ['cellar'] }, 8 * DAY);

    expect(await overview.knowsDoor(site, 'gw-1', 'listed')).toBe(true);
    expect(await overview.knowsDoor(site, 'gw-1', 'side')).toBe(true);
    expect(await overview.knowsDoor(site, 'gw-1', 'front')).toBe(true);
    expect(await overview.knowsDoor(site, 'gw-1', 'nowhere')).toBe(false);
    // Another gateway's doors are not this one's; a list older than the week no longer counts.
    expect(await overview.knowsDoor(site, 'gw-2', 'front')).toBe(false);
    expect(await overview.knowsDoor(site, 'gw-old', 'cellar')).toBe(false);

    // The latest list decides: a door the gateway no longer reports is no longer known by it.
    await store('gw-1', 'gateway.online', { version: 't', doors: ['front'] });
    expect(await overview.knowsDoor(site, 'gw-1', 'front')).toBe(true);
    expect(await overview.knowsDoor(site, 'gw-1', 'back')).toBe(false);
  });
});

describe('a lockdown in the overview', () => {
  it('holds however long ago it began, while other facts leave the look-back week', async () => {
    await store('gw-2', 'lockdown.changed', { active: true }, 10 * DAY);
    const { sites } = deriveOverview(await overview.read());
    expect(sites.find((s) => s.site === site)).toMatchObject({ lockdown: true, lockdownGateways: ['gw-2'] });
    await store('gw-2', 'lockdown.changed', { active: false });
    expect(deriveOverview(await overview.read()).sites.find((s) => s.site === site)).toMatchObject({
      lockdown: false,
    });
  });
});
