import type { KeyObject } from 'node:crypto';
import type { DashboardConfig } from '../../src/config/dashboard-config.js';
import { Dashboard, type DashboardOptions } from '../../src/dashboard/dashboard.js';
import { type Logger, silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey } from '../../src/protocol/signing.js';
import { createTestDatabase, mqttUrl } from './services.js';

/**
 * A started dashboard on its own test database that ingests `site` from the test broker and
 * trusts `gateways` (ids of `site`, or of another site) with one public key. The caller stops it.
 */
export async function startIngestDashboard(options: {
  databaseUrl: string;
  site: string;
  gateways: ReadonlyArray<string | { site: string; id: string }>;
  publicKey: KeyObject;
  /** Names this instance in its MQTT client id, when several share a site. */
  name?: string;
  offlineAfterSeconds?: number;
  /** Beside the loopback listener on a free port: `trustedProxies`. */
  http?: Pick<DashboardConfig['http'], 'trustedProxies'>;
  /** More of the dashboard's options: the central signing key, the gap scanner's timings. */
  more?: Omit<DashboardOptions, 'config' | 'log'>;
  /** Silent unless given. */
  log?: Logger;
}): Promise<Dashboard> {
  const { databaseUrl, site, name = 'dash', offlineAfterSeconds } = options;
  const publicKey = exportPublicKey(options.publicKey);
  const dashboard = new Dashboard({
    config: {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0, ...options.http },
      database: { url: databaseUrl, poolSize: 4 },
      mqtt: { url: mqttUrl(), clientId: `idg-${name}-${site}` },
      ingest: { sites: [site], ...(offlineAfterSeconds !== undefined ? { offlineAfterSeconds } : {}) },
      gateways: options.gateways.map((gateway) =>
        typeof gateway === 'string' ? { site, id: gateway, publicKey } : { ...gateway, publicKey },
      ),
      keys: {},
    },
    log: options.log ?? silentLogger,
    ...options.more,
  });
  await dashboard.start();
  return dashboard;
}

/**
 * startIngestDashboard on a test database of its own; `stop()` stops the dashboard and drops the
 * database.
 */
export async function startIngestDashboardOnNewDatabase(
  options: Omit<Parameters<typeof startIngestDashboard>[0], 'databaseUrl'>,
): Promise<{ dashboard: Dashboard; url: string; stop: () => Promise<void> }> {
  const db = await createTestDatabase();
  try {
    const dashboard = await startIngestDashboard({ ...options, databaseUrl: db.url });
    return {
      dashboard,
      url: db.url,
      stop: async () => {
        await dashboard.stop();
        await db.drop();
      },
    };
  } catch (error) {
    await db.drop();
    throw error;
  }
}
