import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DashboardConfig } from '../../config/dashboard-config.js';
import type { DemoConfig } from '../../config/demo-config.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { defaultVideoConfig } from '../../config/video-config.js';
import { otpauthUri } from '../../controllers/totp-secret.js';
import { Dashboard } from '../../dashboard/dashboard.js';
import { feedbackText } from '../../gateway/feedback-text.js';
import { Gateway } from '../../gateway/gateway.js';
import { resolveFfmpegBinaries } from '../../gateway/recorder/ffmpeg-binary.js';
import { SyntheticCamera } from '../../gateway/recorder/synthetic-camera.js';
import { parseKey } from '../../lib/aead.js';
import { KeyRing } from '../../lib/key-ring.js';
import type { Logger } from '../../lib/logger.js';
import { packageInfo } from '../../lib/package-root.js';
import { readOrCreate } from '../../lib/state-files.js';
import {
  exportPrivateKeyPem,
  exportPublicKey,
  generateSigningKeyPair,
  importPrivateKeyPem,
  type SigningKeyPair,
} from '../../protocol/signing.js';
import { SIGNING_KEY_CONTEXT } from '../keygen-command.js';
import { loadDemoAgent } from './demo-agent.js';
import { DEMO_WORKSTATION, startDemoWorkstation } from './demo-workstation.js';
import { startEmbeddedBroker } from './embedded-broker.js';
import { startEmbeddedDatabase } from './embedded-database.js';

export interface RunningDemo {
  dashboardUrl: string;
  brokerUrl: string;
  databaseUrl: string;
  gateway: Gateway;
  dashboard: Dashboard;
  stop(): Promise<void>;
}

/** Derives the gateway's configuration from the demo file. */
export function demoGatewayConfig(
  demo: DemoConfig,
  brokerUrl: string,
  stateDir: string,
  centralKey: string,
  cameraUrl?: string,
): GatewayConfig {
  return {
    kind: 'gateway',
    site: demo.site,
    id: demo.gateway.id,
    stateDir: join(stateDir, 'gateway'),
    mqtt: { url: brokerUrl, clientId: `identgate-gw-${demo.site}-${demo.gateway.id}` },
    totp: demo.gateway.totp,
    simControl: true,
    heartbeatSeconds: 60,
    alarmSettleSeconds: 60,
    central: { publicKey: centralKey },
    video: defaultVideoConfig({
      cameras: cameraUrl
        ? [
            {
              id: 'cam-main',
              name: 'Synthetic camera at the main door',
              room: demo.gateway.rooms[0]?.id ?? demo.gateway.doors[0]?.room,
              url: cameraUrl,
              transport: 'udp',
              segmentSeconds: demo.camera.segmentSeconds,
              enabled: true,
            },
          ]
        : [],
    }),
    policy: demo.gateway.policy,
    rooms: demo.gateway.rooms,
    doors: demo.gateway.doors,
  };
}

/**
 * `identgate demo`: broker, PostgreSQL, one gateway with simulated devices and the dashboard,
 * in one process. Stops in reverse order; the gateway's outbox keeps anything undelivered.
 */
export async function runDemo(
  demo: DemoConfig,
  log: Logger,
  print: (line: string) => void,
): Promise<RunningDemo> {
  const stateDir = resolve(demo.stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        const started = Date.now();
        await stop();
        log.debug({ part: name, ms: Date.now() - started }, 'stopped');
      } catch (error) {
        log.error({ err: error, part: name }, 'error while stopping');
      }
    }
  };
  try {
    const broker = await startEmbeddedBroker(
      demo.broker.host,
      demo.broker.port,
      log.child({ component: 'broker' }),
    );
    stops.push({ name: 'broker', stop: () => broker.close() });
    const database = await startEmbeddedDatabase(
      stateDir,
      demo.database.port,
      log.child({ component: 'postgres' }),
    );
    stops.push({ name: 'database', stop: () => database.stop() });

    // The central side's keys, created on the first start and kept (mode 0600) in the state directory.
    const masterKey = parseKey(
      readOrCreate(join(stateDir, 'master-key'), () => randomBytes(32).toString('base64')).toString('utf8'),
    );
    const central = loadOrCreateSigningKey(stateDir, new KeyRing(masterKey));

    const camera = demo.camera.enabled ? await startDemoCamera(log) : undefined;
    if (camera) stops.push({ name: 'camera', stop: () => camera.stop() });
    const gatewayConfig = demoGatewayConfig(
      demo,
      broker.url,
      stateDir,
      exportPublicKey(central.publicKey),
      camera?.url,
    );
    const gateway = new Gateway({
      config: gatewayConfig,
      log: log.child({ component: 'gateway' }),
      version: packageInfo().version,
    });
    const agent = loadDemoAgent(stateDir, demo.agent);

    const dashboardConfig: DashboardConfig = {
      kind: 'dashboard',
      http: { host: demo.dashboard.host, port: demo.dashboard.port },
      database: { url: database.url, poolSize: 5 },
      mqtt: { url: broker.url, clientId: `identgate-dashboard-${demo.site}` },
      ingest: { sites: [demo.site] },
      // Trusted by the configuration, as in a deployment (docs/configuration.md).
      gateways: [
        {
          site: demo.site,
          id: demo.gateway.id,
          publicKey: gateway.publicKey,
          encryptionKey: gateway.encryptionKey,
        },
      ],
      // The checkpoints' copy outside the database, beside the rest of the demo's state.
      audit: { witnessFile: join(stateDir, 'checkpoints.witness') },
      keys: {},
    };
    const dashboard = new Dashboard({
      config: dashboardConfig,
      log: log.child({ component: 'dashboard' }),
      databasePassword: database.password,
      signingKey: central.privateKey,
      masterKey,
    });
    await dashboard.start();
    stops.push({ name: 'dashboard', stop: () => dashboard.stop() });

    // Enrol the demo agent centrally; the agent's credential reaches the gateway through
    // credential sync. Background check recent; training runs out in 25 days (a warning).
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);
    await dashboard.people.upsertPerson({
      id: agent.id,
      displayName: agent.name,
      backgroundCheckOn: day(100),
      trainingOn: day(340),
    });
    await dashboard.people.setTotpSecret(agent.id, agent.totpSecret);
    await dashboard.people.addBadge(agent.badge, agent.id);
    await dashboard.people.grantSite(agent.id, demo.site);

    const synced = new Promise<void>((resolve) => {
      const off = gateway.bus.on('demo', 'recorded', (event) => {
        if (event.kind === 'credentials.updated') {
          off();
          resolve();
        }
      });
    });
    await gateway.start();
    stops.push({
      name: 'gateway',
      stop: async () => {
        await gateway.stop();
        // The embedded broker keeps nothing on disk: let the dashboard store the gateway's last
        // events before the broker goes away.
        await dashboard.waitForSequence(demo.site, demo.gateway.id, gateway.lastSequence, 5000);
      },
    });
    await dashboard.messenger.publishCredentials(demo.site);
    await Promise.race([synced, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    const stopWorkstation = await startDemoWorkstation({
      dashboard,
      site: demo.site,
      doors: demo.gateway.doors,
      person: agent.id,
      brokerUrl: broker.url,
      centralKey: central.publicKey,
      stateDir,
      print,
      log,
    });
    stops.push({ name: 'demo workstation', stop: stopWorkstation });
    gateway.bus.on('demo-console', 'feedback', (feedback) =>
      print(`  [door ${feedback.door}] ${feedbackText(feedback)}`),
    );

    const uri = otpauthUri({
      issuer: 'identgate demo',
      account: agent.name,
      secret: agent.totpSecret,
      algorithm: demo.gateway.totp.algorithm,
      digits: demo.gateway.totp.digits,
      periodSeconds: demo.gateway.totp.periodSeconds,
    });
    const doors = demo.gateway.doors.map((d) => d.id);
    const firstDoor = doors[0] ?? 'main';
    const brokerNote = broker.port !== demo.broker.port ? `  (${demo.broker.port} was taken)` : '';
    const lines = [
      '',
      'identgate demo is running',
      '',
      `  Dashboard     ${dashboard.url}`,
      ...(dashboard.setupToken
        ? [
            `  First admin   ${dashboard.url}/#setup=${dashboard.setupToken}`,
            '                (works once, for 24 h: create your administrator account there)',
          ]
        : ['                (sign in with the administrator account created at the first start)']),
      `  MQTT broker   ${broker.url}${brokerNote}`,
      `  PostgreSQL    ${database.url}  (embedded; data in ${join(demo.stateDir, 'postgres')})`,
      `  Gateway       ${demo.site}/${demo.gateway.id}, doors: ${doors.join(', ')} (simulated devices)`,
      `  Workstation   ${DEMO_WORKSTATION} in ${demo.gateway.doors[0]?.room ?? '?'}: login allowed only while the agent is inside (page Workstations)`,
      '',
      `  Demo agent    ${agent.name} (${agent.id})`,
      `  Badge         ${agent.badge}`,
      `  TOTP secret   ${agent.totpSecret}`,
      `  otpauth URI   ${uri}`,
      '',
      '  Add the secret (or the URI) to any authenticator app, then from a second terminal:',
      `    npx identgate sim badge ${agent.badge} --door ${firstDoor}`,
      `    npx identgate sim keypad <the 6-digit code> --door ${firstDoor}`,
      `    npx identgate sim door open --door ${firstDoor}`,
      '',
      '  Press Ctrl+C to stop.',
      '',
    ];
    for (const line of lines) print(line);
    return {
      dashboardUrl: dashboard.url ?? '',
      brokerUrl: broker.url,
      databaseUrl: database.url,
      gateway,
      dashboard,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The demo's central signing key, sealed under its master key like a production one can be. */
function loadOrCreateSigningKey(stateDir: string, master: KeyRing): SigningKeyPair {
  const legacy = join(stateDir, 'central-signing-key.pem');
  const sealed = readOrCreate(join(stateDir, 'central-signing-key.sealed'), () => {
    const pem = existsSync(legacy)
      ? readFileSync(legacy, 'utf8')
      : exportPrivateKeyPem(generateSigningKeyPair().privateKey);
    return `${master.seal(Buffer.from(pem), SIGNING_KEY_CONTEXT)}\n`;
  });
  if (existsSync(legacy)) unlinkSync(legacy);
  return importPrivateKeyPem(
    master.open(sealed.toString('utf8').trim(), SIGNING_KEY_CONTEXT).toString('utf8'),
  );
}

/** The demo's synthetic camera (ffmpeg's test pattern over RTSP); skipped with a warning without ffmpeg. */
async function startDemoCamera(log: Logger): Promise<SyntheticCamera | undefined> {
  let ffmpeg: string;
  try {
    ffmpeg = resolveFfmpegBinaries().ffmpeg;
  } catch (error) {
    log.warn(
      { err: error },
      'no ffmpeg found: the demo runs without its camera (install ffmpeg or set IDENTGATE_FFMPEG)',
    );
    return undefined;
  }
  const camera = new SyntheticCamera({
    ffmpeg,
    log: log.child({ component: 'synthetic-camera' }),
    size: '640x360',
    rate: 10,
  });
  await camera.start();
  return camera;
}
