import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { terminate } from './terminate.js';

/**
 * A broker of the test's own that it can restart: Mosquitto (with persistence, as production
 * runs it) when the binary is installed, otherwise an in-process aedes broker (which forgets
 * everything on restart: the gateways' journals and resends must make up for it).
 */
export interface TestBroker {
  kind: 'mosquitto' | 'aedes';
  url: string;
  port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function mosquittoBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) {
    if (spawnSync(candidate, ['-h']).status !== null) return candidate;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = tcpConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`broker on port ${port} did not come up`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startTestBroker(): Promise<TestBroker> {
  const port = await freePort();
  const binary = mosquittoBinary();
  if (binary) {
    const dir = mkdtempSync(join(tmpdir(), 'idg-mosquitto-'));
    const config = join(dir, 'mosquitto.conf');
    writeFileSync(
      config,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 1000000',
        'max_inflight_messages 1000',
        'log_dest none',
      ].join('\n'),
    );
    let child: ChildProcess | undefined;
    const start = async () => {
      child = spawn(binary, ['-c', config], { stdio: 'ignore' });
      await waitForPort(port);
    };
    const stop = async () => {
      const running = child;
      child = undefined;
      await terminate(running);
    };
    await start();
    return {
      kind: 'mosquitto',
      url: `mqtt://127.0.0.1:${port}`,
      port,
      restart: async () => {
        await stop();
        await start();
      },
      stop,
    };
  }
  let broker: Aedes | undefined;
  let server: Server | undefined;
  const start = async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
  };
  const stop = async () => {
    const b = broker;
    const s = server;
    broker = undefined;
    server = undefined;
    await new Promise<void>((resolve) => (b ? b.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  };
  await start();
  return {
    kind: 'aedes',
    url: `mqtt://127.0.0.1:${port}`,
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}
