import { runSim } from '../../src/cli/sim-command.js';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { StoredEvent } from '../../src/dashboard/storage/event-store.js';
import type { TestSystem } from './system.js';

/**
 * Presence test rig on top of the test system: the directory rows that place door `main` in room
 * `ident-1` (and an empty room `ident-2`), workstations with tokens, and badge-in / badge-out of
 * the test agent that resolve once the dashboard has stored (and presence has applied) the event.
 */
export async function seedDirectory(system: TestSystem): Promise<void> {
  const { pool } = system.dashboard;
  await pool.query(`INSERT INTO sites (id, name) VALUES ($1, 'test site')`, [system.site]);
  await pool.query(
    `INSERT INTO rooms (site, id, name) VALUES ($1, 'ident-1', 'Ident 1'), ($1, 'ident-2', 'Ident 2')`,
    [system.site],
  );
  await pool.query(`INSERT INTO doors (site, id, room, name) VALUES ($1, 'main', 'ident-1', 'Main door')`, [
    system.site,
  ]);
  await system.dashboard.presence.refresh();
}

export async function registerWorkstation(system: TestSystem, id: string, room = 'ident-1'): Promise<string> {
  const token = await system.dashboard.workstations.register({ id, site: system.site, room });
  await system.dashboard.presence.refresh();
  return token;
}

/** Resolves with the next stored event of that kind (presence sees it before this does). */
export function nextStored(system: TestSystem, kind: string, timeoutMs = 15_000): Promise<StoredEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${kind} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = system.dashboard.hub.subscribe({
      push: (events) => {
        const match = events.find((e) => e.kind === kind);
        if (match) {
          clearTimeout(timer);
          off();
          resolve(match);
        }
        return true;
      },
      close: () => undefined,
    });
  });
}

const sim = (system: TestSystem, action: string[], exit = false) =>
  runSim({ action, door: 'main', exit, socket: system.gateway.simSocketPath });

/**
 * Badge and code at the entry reader of `main`. A code is good once: a second entry in a test
 * passes `step: 1`, the next step's code, which the verifier's drift window accepts.
 */
export async function badgeIn(system: TestSystem, step = 0): Promise<StoredEvent> {
  const granted = nextStored(system, 'access.granted');
  await sim(system, ['badge', system.agent.badge]);
  const code = new TotpVerifier().generate(system.agent.secret, Date.now() + step * 30_000);
  const answer = await sim(system, ['keypad', code]);
  if (!answer[0]?.startsWith('granted')) throw new Error(`entry refused: ${answer.join(' ')}`);
  return granted;
}

export async function badgeOut(system: TestSystem): Promise<StoredEvent> {
  const granted = nextStored(system, 'access.granted');
  const answer = await sim(system, ['badge', system.agent.badge], true);
  if (!answer[0]?.startsWith('granted')) throw new Error(`exit refused: ${answer.join(' ')}`);
  return granted;
}
