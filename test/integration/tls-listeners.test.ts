import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../src/cli/demo/embedded-broker.js';
import type { DashboardConfig } from '../../src/config/dashboard-config.js';
import { generateTotpSecret } from '../../src/controllers/totp-secret.js';
import { Dashboard } from '../../src/dashboard/dashboard.js';
import { Gateway } from '../../src/gateway/gateway.js';
import { silentLogger } from '../../src/lib/logger.js';
import { TLS_PROFILE } from '../../src/lib/tls-profile.js';
import { exportPublicKey, generateSigningKeyPair } from '../../src/protocol/signing.js';
import { createTestDatabase, requireTool, uniqueSite } from '../helpers/services.js';
import { testGatewayConfig } from '../helpers/system.js';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { MOSQUITTO, startTlsMosquitto, type TlsMosquitto } from '../helpers/tls-mosquitto.js';
import { SSLSCAN_AVAILABLE, sClient, sslscan } from '../helpers/tls-probe.js';

/**
 * The dashboard (HTTPS) and a Mosquitto configured by `identgate pki mosquitto-config`, probed
 * from outside with `openssl s_client` and `sslscan`: only the TLS profile gets through.
 */
describe('what identgate refuses to start', () => {
  it('a dashboard bound to a non-loopback address without TLS', async () => {
    const plain = new Dashboard({
      config: {
        kind: 'dashboard',
        http: { host: '0.0.0.0', port: 0 },
        database: { url: 'postgres://nobody@127.0.0.1:1/none', poolSize: 1 },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        ingest: { sites: [] },
        gateways: [],
        keys: {},
      },
      log: silentLogger,
    });
    await expect(plain.start()).rejects.toMatchObject({
      code: 'IDG_TLS_REQUIRED',
      message: expect.stringMatching(/dashboard: refusing to listen on 0\.0\.0\.0 without TLS.*http\.tls/),
    });
  });

  it("the demo's embedded broker on a non-loopback address (it has no TLS)", async () => {
    await expect(startEmbeddedBroker('0.0.0.0', 0, silentLogger)).rejects.toMatchObject({
      code: 'IDG_TLS_REQUIRED',
    });
  });
});

// Mosquitto is on every identgate CI machine (.ci/run installs it); elsewhere these tests fail naming the package.
describe('TLS listeners', () => {
  requireTool(MOSQUITTO, 'mosquitto', 'mosquitto');
  const site = uniqueSite('tls');
  let pki: TestPki;
  let broker: TlsMosquitto;
  let dashboard: Dashboard;
  let gateway: Gateway;
  let dropDatabase: () => Promise<void>;
  let dashboardPort = 0;
  let gatewayFiles: { cert: string; key: string };

  beforeAll(async () => {
    pki = await createTestPki();
    await pki.issue('broker', 'localhost', ['127.0.0.1', 'localhost']);
    const dashboardTls = await pki.issue('dashboard', 'central-1', ['127.0.0.1', 'localhost']);
    const gatewayTls = await pki.issue('gateway', `${site}/gw-1`);
    gatewayFiles = { cert: gatewayTls.cert, key: gatewayTls.key.file };
    broker = await startTlsMosquitto(pki);

    const database = await createTestDatabase();
    dropDatabase = database.drop;
    const central = generateSigningKeyPair();
    const config: DashboardConfig = {
      kind: 'dashboard',
      http: { host: '127.0.0.1', port: 0, tls: { cert: dashboardTls.cert, key: dashboardTls.key } },
      database: { url: database.url, poolSize: 4 },
      mqtt: { url: broker.url, clientId: `idg-dash-${site}`, tls: dashboardTls },
      ingest: { sites: [site] },
      gateways: [],
      keys: {},
    };
    dashboard = new Dashboard({
      config,
      log: silentLogger,
      signingKey: central.privateKey,
      masterKey: randomBytes(32),
    });
    await dashboard.start();
    dashboardPort = Number(new URL(dashboard.url ?? '').port);

    gateway = new Gateway({
      config: testGatewayConfig(site, mkdtempSync(join(tmpdir(), 'idg-gw-tls-')), {
        mqtt: { url: broker.url, clientId: `idg-gw-${site}`, tls: gatewayTls },
        central: { publicKey: exportPublicKey(central.publicKey) },
      }),
      log: silentLogger,
    });
    await dashboard.trustGateway(site, 'gw-1', gateway.publicKey, gateway.encryptionKey);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await dashboard?.stop();
    await dropDatabase?.();
    await broker?.stop();
  });

  describe('a gateway and the dashboard over mutual TLS', () => {
    it('exchange credentials and events through the generated Mosquitto configuration', async () => {
      await dashboard.people.upsertPerson({ id: 'agent-ada', displayName: 'Ada Agent' });
      await dashboard.people.setTotpSecret('agent-ada', generateTotpSecret());
      await dashboard.people.addBadge('0004711', 'agent-ada');
      await dashboard.people.grantSite('agent-ada', site);
      const synced = new Promise<void>((resolve) => {
        const off = gateway.bus.on('test', 'recorded', (event) => {
          if (event.kind === 'credentials.updated') {
            off();
            resolve();
          }
        });
      });
      await gateway.start();
      await synced;
      expect(await dashboard.waitForSequence(site, 'gw-1', gateway.lastSequence, 20_000)).toBe(true);
    });
  });

  describe('the dashboard over HTTPS', () => {
    it('serves its pages over HTTPS with HSTS', async () => {
      const response = await new Promise<{ status: number; hsts: string | undefined }>((resolve, reject) => {
        get(
          {
            host: '127.0.0.1',
            port: dashboardPort,
            path: '/healthz',
            ca: readFileSync(pki.caCert),
            servername: 'localhost',
          },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] });
          },
        ).on('error', reject);
      });
      expect(response).toEqual({ status: 200, hsts: 'max-age=31536000' });
      expect(dashboard.url).toMatch(/^https:\/\//);
    });
  });

  // Each listener is probed with the gateway's client certificate, so that a refusal comes from the
  // TLS parameters and not from Mosquitto's require_certificate.
  const listeners = [
    { name: 'dashboard (HTTPS)', port: () => dashboardPort },
    { name: 'Mosquitto (MQTTS)', port: () => broker.port },
  ];

  describe.each(listeners)('$name probed with openssl s_client', ({ port }) => {
    const probe = (...args: string[]) =>
      sClient(port(), [...args, '-CAfile', pki.caCert, '-cert', gatewayFiles.cert, '-key', gatewayFiles.key]);

    it('refuses TLS 1.0 and TLS 1.1', async () => {
      expect((await probe('-tls1')).accepted).toBe(false);
      expect((await probe('-tls1_1')).accepted).toBe(false);
    });

    it('accepts TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256', async () => {
      expect(await probe('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256')).toMatchObject({
        accepted: true,
        protocol: 'TLSv1.2',
        cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      });
    });

    it('refuses CBC with SHA-1 (ECDHE-ECDSA-AES128-SHA)', async () => {
      expect((await probe('-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA')).accepted).toBe(false);
    });

    it('refuses ChaCha20 in TLS 1.3 and TLS 1.2', async () => {
      expect((await probe('-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256')).accepted).toBe(false);
      expect((await probe('-tls1_2', '-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305')).accepted).toBe(false);
    });

    it('refuses X25519 in TLS 1.3 and TLS 1.2', async () => {
      expect((await probe('-tls1_3', '-groups', 'X25519')).accepted).toBe(false);
      expect((await probe('-tls1_2', '-groups', 'X25519')).accepted).toBe(false);
    });

    it('accepts P-256 and prefers P-384', async () => {
      expect(await probe('-tls1_3', '-groups', 'P-256')).toMatchObject({
        accepted: true,
        group: 'prime256v1',
      });
      expect(await probe('-tls1_3', '-groups', 'X25519:P-256:P-384')).toMatchObject({
        accepted: true,
        group: 'secp384r1',
      });
    });

    it('accepts each TLS 1.3 suite of the profile', async () => {
      for (const suite of TLS_PROFILE.tls13Suites) {
        expect(await probe('-tls1_3', '-ciphersuites', suite)).toMatchObject({
          accepted: true,
          cipher: suite,
        });
      }
    });
  });

  describe.each(listeners)('$name scanned with sslscan', ({ port }) => {
    requireTool(SSLSCAN_AVAILABLE, 'sslscan', 'sslscan');
    it('offers TLS 1.2 and 1.3 only, profile suites only, and no X25519', async () => {
      const report = await sslscan(port(), gatewayFiles);
      expect(report.protocols).toEqual({
        SSLv2: 'disabled',
        SSLv3: 'disabled',
        'TLSv1.0': 'disabled',
        'TLSv1.1': 'disabled',
        'TLSv1.2': 'enabled',
        'TLSv1.3': 'enabled',
      });
      const allowed = [...TLS_PROFILE.tls13Suites, ...TLS_PROFILE.tls12Suites] as string[];
      expect(report.ciphers.length).toBeGreaterThan(3);
      for (const { cipher } of report.ciphers) {
        expect(allowed).toContain(cipher);
        expect(cipher).not.toMatch(/CBC|CHACHA|-SHA$/);
      }
      expect(report.groups.length).toBeGreaterThan(0);
      for (const { group } of report.groups) expect(group).not.toMatch(/x25519|x448/i);
    });
  });
});
