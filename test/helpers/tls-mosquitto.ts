import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { terminate } from './terminate.js';
import type { TestPki } from './test-pki.js';

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'].find(
  (candidate) => spawnSync(candidate, ['-h']).status !== null,
);

/** A Mosquitto of the test's own, configured by `identgate pki mosquitto-config` alone. */
export interface TlsMosquitto {
  port: number;
  url: string;
  /** Regenerates the files from the CA's index (after issue or revoke). */
  regenerate(): Promise<void>;
  /** SIGHUP; resolves once Mosquitto has re-read its configuration and ACL. */
  reload(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** `failed` is asked before each retry: a reason to give up at once (the process has exited). */
function waitForPort(port: number, failed: () => Error | undefined, timeoutMs = 10_000): Promise<void> {
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
        const failure = failed();
        if (failure) reject(failure);
        else if (Date.now() > deadline) reject(new Error(`mosquitto on port ${port} did not come up`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** `options`: more options of `pki mosquitto-config`, such as `--max-queued-bytes 4KiB`. */
export async function startTlsMosquitto(
  pki: TestPki,
  brokerName = 'localhost',
  options: readonly string[] = [],
): Promise<TlsMosquitto> {
  if (!MOSQUITTO) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const binary = MOSQUITTO;
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), 'idg-tls-mosquitto-'));
  const out = join(root, 'etc');
  const data = join(root, 'data');
  mkdirSync(data);
  const regenerate = async () => {
    await pki.pki(
      'mosquitto-config',
      '--broker',
      brokerName,
      '--out',
      out,
      '--listen',
      `127.0.0.1:${port}`,
      '--persistence',
      data,
      ...options,
    );
    // Test-only: as root Mosquitto would switch to the mosquitto user, who cannot read a temp dir.
    appendFileSync(join(out, 'mosquitto.conf'), '\nuser root\nlog_dest stderr\n');
  };
  await regenerate();
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    child = spawn(binary, ['-c', join(out, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, OPENSSL_CONF: join(out, 'openssl.cnf') },
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    // A configuration Mosquitto refuses ends it at once: say so with its log, not a timeout.
    const running = child;
    await waitForPort(port, () =>
      running.exitCode === null && running.signalCode === null
        ? undefined
        : new Error(`mosquitto exited (${running.exitCode ?? running.signalCode}) at start:\n${log}`),
    );
  };
  /** Resolves once Mosquitto has logged `pattern` after `from` characters of its log. */
  const logged = (pattern: RegExp, from: number, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        if (pattern.test(log.slice(from))) resolve();
        else if (Date.now() > deadline) reject(new Error(`mosquitto never logged ${pattern}:\n${log}`));
        else child?.stderr?.once('data', check);
      };
      check();
    });
  const stop = async () => {
    const running = child;
    child = undefined;
    await terminate(running);
  };
  await start();
  return {
    port,
    url: `mqtts://127.0.0.1:${port}`,
    regenerate,
    reload: async () => {
      const from = log.length;
      child?.kill('SIGHUP');
      await logged(/Reloading config/, from);
    },
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}
