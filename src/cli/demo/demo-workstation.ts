import type { PresenceChange } from '../../controllers/presence/presence-tracker.js';
import type { Dashboard } from '../../dashboard/dashboard.js';
import type { Logger } from '../../lib/logger.js';
import { CentralClient } from '../../workstation/central-client.js';

/**
 * The demo's simulated ident workstation: registered in the room of the first door, it tries to
 * log the demo agent in at start and whenever the agent's presence begins or ends, through the
 * real login-check API with its own token, so the Workstations page shows allowed / denied live.
 */
export interface DemoWorkstationOptions {
  dashboard: Dashboard;
  site: string;
  doors: ReadonlyArray<{ id: string; room: string }>;
  person: string;
  print: (line: string) => void;
  log: Logger;
}

export const DEMO_WORKSTATION = 'ident-ws-1';

export async function startDemoWorkstation(options: DemoWorkstationOptions): Promise<() => void> {
  const { dashboard, site, doors, person, print, log } = options;
  const room = doors[0]?.room;
  if (!room || !dashboard.url) return () => undefined;
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
  return dashboard.presence.listen(onChange);
}
