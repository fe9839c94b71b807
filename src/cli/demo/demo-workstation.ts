import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { PresenceChange } from '../../controllers/presence/presence-tracker.js';
import type { Dashboard } from '../../dashboard/dashboard.js';
import { systemClock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { CentralClient } from '../../workstation/central-client.js';
import { LockAgent } from '../../workstation/lock-agent.js';

/**
 * The demo's simulated ident workstation: registered in the room of the first door, it tries to
 * log the demo agent in at start and whenever the agent's presence begins or ends, through the
 * real login-check API with its own token, so the Workstations page shows allowed / denied live.
 * Its lock agent is the real one (over the demo's broker, verifying the central key); only the
 * lock program is harmless: the console says the workstation locked.
 */
export interface DemoWorkstationOptions {
  dashboard: Dashboard;
  site: string;
  doors: ReadonlyArray<{ id: string; room: string }>;
  person: string;
  brokerUrl: string;
  centralKey: KeyObject;
  stateDir: string;
  print: (line: string) => void;
  log: Logger;
}

export const DEMO_WORKSTATION = 'ident-ws-1';

export async function startDemoWorkstation(options: DemoWorkstationOptions): Promise<() => Promise<void>> {
  const { dashboard, site, doors, person, print, log } = options;
  const room = doors[0]?.room;
  if (!room || !dashboard.url) return async () => undefined;
  // The directory rows presence needs (door → room); kept if an operator already made them.
  await dashboard.pool.query(`INSERT INTO sites (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [site]);
  for (const roomId of new Set(doors.map((d) => d.room))) {
    await dashboard.pool.query(
      `INSERT INTO rooms (site, id, name) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING`,
      [site, roomId],
    );
  }
  for (const door of doors) {
    await dashboard.pool.query(
      `INSERT INTO doors (site, id, room, name) VALUES ($1, $2, $3, $2) ON CONFLICT DO NOTHING`,
      [site, door.id, door.room],
    );
  }
  const token = await dashboard.workstations.register({
    id: DEMO_WORKSTATION,
    site,
    room,
    name: `Ident workstation 1 (${room})`,
  });
  await dashboard.presence.refresh();
  const client = new CentralClient({
    url: dashboard.url,
    workstation: DEMO_WORKSTATION,
    token,
    timeoutMs: 3000,
  });
  const attempt = async () => {
    const reply = await client.post('/login-check', { user: person });
    const body = reply.reached ? (reply.body as { allow?: boolean; reason?: string }) : undefined;
    print(
      `  [workstation ${DEMO_WORKSTATION}] login of ${person}: ${
        body?.allow
          ? 'allowed'
          : `denied (${body?.reason ?? (reply.reached ? `HTTP ${reply.status}` : reply.detail)})`
      }`,
    );
  };
  const onChange = (change: PresenceChange) => {
    if (change.presence.person !== person || change.kind === 'renewed') return;
    attempt().catch((error: Error) => log.warn({ err: error }, 'demo workstation login attempt failed'));
  };
  await attempt();
  const agent = new LockAgent({
    site,
    workstation: DEMO_WORKSTATION,
    url: options.brokerUrl,
    clientId: `identgate-ws-${DEMO_WORKSTATION}`,
    centralKey: options.centralKey,
    // A lock program that does nothing: the demo machine's own sessions stay as they are.
    lockCommand: [process.execPath, '-e', ''],
    lockTimeoutMs: 10_000,
    lateMs: 8 * 3_600_000,
    stateDir: join(options.stateDir, 'workstation'),
    // The workstation configuration's defaults (login grace 120 s, local retention 60 days).
    graceMs: 120_000,
    retentionDays: 60,
    central: client,
    clock: systemClock,
    log: log.child({ component: 'workstation-agent' }),
    onResult: (result) =>
      print(
        `  [workstation ${DEMO_WORKSTATION}] lock command: ${result.status === 'ok' ? 'locked' : result.status}${
          result.reason ? ` (${result.reason.slice(0, 80)})` : ''
        }`,
      ),
  });
  await agent.start();
  const stopListening = dashboard.presence.listen(onChange);
  return async () => {
    stopListening();
    await agent.stop();
  };
}
