import { type KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import { defaultVideoConfig } from '../../src/config/video-config.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import type { Role } from '../../src/dashboard/auth/staff-store.js';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import { exportPublicKey, generateSigningKeyPair, type SigningKeyPair } from '../../src/protocol/signing.js';
import { testDoor, testPolicy } from './door-config.js';
import { createTestDatabase, mqttUrl, uniqueSite } from './services.js';
import { ShiftClock } from './shift-clock.js';
import { StaffClient } from './staff.js';

export interface TestSystem {
  site: string;
  gateway: Gateway;
  dashboard: Dashboard;
  databaseUrl: string;
  agent: { badge: string; person: string; secret: string };
  /** The dashboard's clock: the system clock, moved on by staff clients that need fresh TOTP steps. */
  clock: ShiftClock;
  /** The dashboard's master key (sealing TOTP secrets), for key-rotation tests. */
  masterKey: Buffer;
  /** The central signing key's public half (ed25519:…), as gateways and workstation agents know it. */
  centralPublicKey: string;
  /** The central signing key itself, for what signs beside the dashboard (`people erase`, `audit prune`). */
  centralKey: KeyObject;
  /** A signed-in staff member with that role (a new account each call). */
  staff(role: Role): Promise<StaffClient>;
  stop(): Promise<void>;
}

export { testPolicy };

/** One door `main` in room `ident-1` with simulated devices, talking to the test broker. */
export function testGatewayConfig(
  site: string,
  stateDir: string,
  overrides: Partial<GatewayConfig> = {},
): GatewayConfig {
  return {
    kind: 'gateway',
    site,
    id: 'gw-1',
    stateDir,
    mqtt: { url: mqttUrl(), clientId: `idg-gw-${site}` },
    totp: { digits: 6, periodSeconds: 30, algorithm: 'sha1', driftSteps: 1 },
    simControl: true,
    heartbeatSeconds: 60,
    alarmSettleSeconds: 60,
    central: {},
    video: defaultVideoConfig(),
    policy: testPolicy(),
    rooms: [],
    doors: [testDoor()],
    ...overrides,
  };
}

/**
 * One gateway with simulated devices and one dashboard, wired through the test broker into a
 * fresh database: the whole slice, in this process. The agent is enrolled centrally and reaches
 * the gateway through credential sync, as in production. `central`: the key the dashboard signs
 * with (a new one by default), which the gateway trusts as its central.publicKey unless
 * `gatewayConfig.central` says otherwise.
 */
export async function startTestSystem(
  options: {
    gapScanMs?: number;
    gapGraceMs?: number;
    gatewayConfig?: Partial<GatewayConfig>;
    central?: SigningKeyPair;
  } = {},
): Promise<TestSystem> {
  const { gatewayConfig, central = generateSigningKeyPair(), ...dashboardOptions } = options;
  const database = await createTestDatabase();
  const site = uniqueSite();
  const stateDir = mkdtempSync(join(tmpdir(), 'idg-gw-'));
  const clock = new ShiftClock();
  const masterKey = randomBytes(32);
  const dashboard = new Dashboard({
    clock,
    config: {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0 },
      database: { url: database.url, poolSize: 4 },
      mqtt: { url: mqttUrl(), clientId: `idg-dash-${site}` },
      ingest: { sites: [site] },
      gateways: [],
      keys: {},
    },
    log: silentLogger,
    signingKey: central.privateKey,
    masterKey,
    ...dashboardOptions,
  });
  const gateway = new Gateway({
    config: testGatewayConfig(site, stateDir, {
      ...gatewayConfig,
      central: gatewayConfig?.central ?? { publicKey: exportPublicKey(central.publicKey) },
    }),
    log: silentLogger,
  });
  const agent = { badge: '0004711', person: 'agent-ada', secret: generateTotpSecret() };
  await dashboard.start();
  await dashboard.trustGateway(site, 'gw-1', gateway.publicKey, gateway.encryptionKey);
  await dashboard.people.upsertPerson({ id: agent.person, displayName: 'Ada Agent' });
  await dashboard.people.setTotpSecret(agent.person, agent.secret);
  await dashboard.people.addBadge(agent.badge, agent.person);
  await dashboard.people.grantSite(agent.person, site);
  const synced = new Promise<void>((resolve) => {
    const off = gateway.bus.on('test', 'recorded', (event) => {
      if (event.kind === 'credentials.updated') {
        off();
        resolve();
      }
    });
  });
  // The ingest reports each outcome once its transaction returns, which can be after the event
  // reached the live hub (published when the commit's notice comes back): a test that waits for
  // the next outcome must not get one of the start-up events'.
  let reported = 0;
  let onReport = () => {};
  const offReports = dashboard.ingest.outcomes.on((outcome) => {
    if (outcome.status === 'stored' && outcome.event.site === site && outcome.event.gateway === 'gw-1') {
      reported = Math.max(reported, outcome.event.seq);
      onReport();
    }
  });
  await gateway.start();
  await synced;
  // Start from a quiet system: the gateway's start-up events are stored, and reported, before a
  // test begins.
  if (!(await dashboard.waitForSequence(site, 'gw-1', gateway.lastSequence, 10_000))) {
    throw new Error('the gateway start-up events did not reach the dashboard');
  }
  const last = gateway.lastSequence;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the ingest did not report the start-up events')),
      10_000,
    );
    onReport = () => {
      if (reported < last) return;
      clearTimeout(timer);
      resolve();
    };
    onReport();
  });
  offReports();
  return {
    site,
    gateway,
    dashboard,
    databaseUrl: database.url,
    agent,
    clock,
    masterKey,
    centralPublicKey: exportPublicKey(central.publicKey),
    centralKey: central.privateKey,
    staff: (role) => StaffClient.create(dashboard, clock, role),
    stop: async () => {
      await gateway.stop();
      await dashboard.stop();
      await database.drop();
    },
  };
}
