import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { DoorFeedback } from '../controllers/door-ports.js';
import type { Logger } from '../lib/logger.js';
import type { DoorDevices } from './devices/device-ports.js';
import {
  SimulatedBadgeReader,
  SimulatedDoorContact,
  SimulatedExitButton,
  SimulatedKeypad,
} from './devices/simulated-devices.js';
import { feedbackText } from './feedback-text.js';

/**
 * A local control socket through which `identgate sim …` drives the simulated devices of a running
 * gateway. It is a Unix socket with mode 0600 in the state directory: only the gateway's own user
 * can reach it, and it exists only when configured and only for simulated devices.
 */
export interface SimDoor {
  id: string;
  name?: string;
  room: string;
  devices: DoorDevices;
}

export interface SimResponse {
  door: string;
  feedback: DoorFeedback[];
  lines: string[];
}

const MAX_BODY = 4096;

export class SimControlServer {
  private server: Server | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly doors: Map<string, SimDoor>,
    /** Runs `action` and returns the feedback the doors gave while it ran. */
    private readonly capture: (action: () => void) => DoorFeedback[],
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await removeStaleSocket(this.socketPath);
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: Error) => {
        this.log.error({ err: error }, 'sim control request failed');
        send(res, 500, { error: error.message });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.socketPath, 0o600);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A client keeping its connection alive must not hold the gateway's stop.
    server.closeAllConnections();
    await closed;
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    if (req.method === 'GET' && url.pathname === '/doors') {
      send(res, 200, { doors: [...this.doors.values()].map(({ id, name, room }) => ({ id, name, room })) });
      return;
    }
    const match = /^\/doors\/([^/]+)\/(badge|keypad|contact|rex)$/.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      send(res, 404, { error: `no such sim action: ${req.method} ${url.pathname}` });
      return;
    }
    const doorId = decodeURIComponent(match[1] ?? '');
    const door = this.doors.get(doorId);
    if (!door) {
      send(res, 404, {
        error: `unknown door "${doorId}"; doors: ${[...this.doors.keys()].join(', ')}`,
        doors: [...this.doors.keys()],
      });
      return;
    }
    const body = await readJson(req);
    const action = match[2];
    const { entryReader, exitReader, keypad, contact, rex } = door.devices;
    let run: () => void;
    if (action === 'badge' && typeof body.badge === 'string' && body.badge.length > 0) {
      const reader = body.exit === true ? exitReader : entryReader;
      const which = body.exit === true ? 'exit reader' : 'entry reader';
      if (!reader) return notSimulated(res, door.id, which, 'has no');
      if (!(reader instanceof SimulatedBadgeReader)) return notSimulated(res, door.id, which);
      const badge = body.badge;
      run = () => reader.present(badge);
    } else if (action === 'rex') {
      if (!rex) return notSimulated(res, door.id, 'request-to-exit button', 'has no');
      if (!(rex instanceof SimulatedExitButton)) return notSimulated(res, door.id, 'request-to-exit button');
      run = () => rex.press();
    } else if (action === 'keypad' && typeof body.digits === 'string') {
      if (!(keypad instanceof SimulatedKeypad)) return notSimulated(res, door.id, 'keypad');
      const digits = body.digits;
      run = () => keypad.type(digits);
    } else if (action === 'contact' && typeof body.open === 'boolean') {
      if (!(contact instanceof SimulatedDoorContact)) return notSimulated(res, door.id, 'door contact');
      const open = body.open;
      run = () => contact.set(open);
    } else {
      send(res, 400, { error: `bad request body for ${action}` });
      return;
    }
    const feedback = this.capture(run);
    const quiet =
      action === 'contact'
        ? `no change: the door is already ${body.open ? 'open' : 'closed'}`
        : 'no response from the door';
    const lines = feedback.length > 0 ? feedback.map(feedbackText) : [quiet];
    send(res, 200, { door: door.id, feedback, lines } satisfies SimResponse);
  }
}

function notSimulated(res: ServerResponse, door: string, device: string, missing?: 'has no'): void {
  send(res, 409, {
    error: missing
      ? `door "${door}" has no ${device}`
      : `the ${device} of door "${door}" is real hardware, not simulated`,
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {};
}

/** A socket file left by a crashed gateway is removed; one that answers belongs to a running gateway. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another gateway is already serving ${path}`);
  unlinkSync(path);
}
