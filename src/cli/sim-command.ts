import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import type { SimResponse } from '../gateway/sim-control.js';
import { UsageError } from './cli-error.js';

/**
 * `identgate sim badge|keypad|door|doors …`: drives the simulated devices of a running demo or
 * gateway through its local control socket and prints what the door did.
 */
export interface SimArgs {
  action: string[];
  door?: string;
  /** The badge goes to the door's exit reader instead of its entry reader. */
  exit?: boolean;
  stateDir?: string;
  socket?: string;
}

export const SIM_USAGE = `usage:
  identgate sim badge <badgeId> [--door <door>] [--exit]   (--exit: at the exit reader)
  identgate sim keypad <digits> [--door <door>]
  identgate sim door open|close [--door <door>]
  identgate sim rex [--door <door>]                         (the request-to-exit button)
  identgate sim doors
options:
  --state-dir <dir>   state directory of the running demo or gateway (default: $IDENTGATE_STATE_DIR or .identgate)
  --socket <path>     the control socket itself`;

export function findSimSocket(args: SimArgs, env = process.env): string {
  if (args.socket) return resolve(args.socket);
  const base = resolve(args.stateDir ?? env.IDENTGATE_STATE_DIR ?? '.identgate');
  for (const candidate of [join(base, 'gateway', 'sim.sock'), join(base, 'sim.sock')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new UsageError(
    `no running demo or gateway with simulated devices found under ${base}; start one with \`npm start\` or pass --state-dir`,
  );
}

interface Reply<T> {
  status: number;
  body: T;
}

function call<T>(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Reply<T>> {
  return new Promise((resolvePromise, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: text
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }
          : {},
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolvePromise({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T,
            });
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('the gateway did not answer within 10 s')));
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
          ? new UsageError(`the gateway at ${socketPath} is not running (stale socket); start it again`)
          : error,
      ),
    );
    if (text) req.write(text);
    req.end();
  });
}

async function listDoors(socket: string): Promise<string[]> {
  const reply = await call<{ doors: Array<{ id: string }> }>(socket, 'GET', '/doors');
  return reply.body.doors.map((d) => d.id);
}

/** Runs the command; returns the lines to print. */
export async function runSim(args: SimArgs): Promise<string[]> {
  const [verb, value] = args.action;
  if (!verb) throw new UsageError(SIM_USAGE);
  const socket = findSimSocket(args);
  if (verb === 'doors') return (await listDoors(socket)).map((d) => d);

  let path: string;
  let body: Record<string, unknown>;
  if (verb === 'badge' && value) {
    path = 'badge';
    body = { badge: value, exit: args.exit === true };
  } else if (verb === 'rex' && !value) {
    path = 'rex';
    body = {};
  } else if (verb === 'keypad' && value) {
    path = 'keypad';
    body = { digits: value };
  } else if (verb === 'door' && (value === 'open' || value === 'close')) {
    path = 'contact';
    body = { open: value === 'open' };
  } else {
    throw new UsageError(SIM_USAGE);
  }
  let door = args.door;
  if (!door) {
    const doors = await listDoors(socket);
    if (doors.length !== 1)
      throw new UsageError(`more than one door; choose one with --door (doors: ${doors.join(', ')})`);
    door = doors[0] as string;
  }
  const reply = await call<SimResponse & { error?: string }>(
    socket,
    'POST',
    `/doors/${encodeURIComponent(door)}/${path}`,
    body,
  );
  if (reply.status !== 200) throw new UsageError(reply.body.error ?? `the gateway answered ${reply.status}`);
  return reply.body.lines;
}
