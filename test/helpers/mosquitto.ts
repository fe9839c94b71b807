import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../../src/cli/demo/embedded-broker.js';
import { terminate } from './terminate.js';

export const mosquittoBinary = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
export const mosquittoAvailable = existsSync(mosquittoBinary);

/**
 * A Mosquitto of the test's own, with persistence in a temporary directory, so that a test can
 * stop, pause and restart the broker without disturbing anyone else.
 */
export class OwnMosquitto {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<OwnMosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'idg-mosquitto-'));
    const broker = new OwnMosquitto(await findFreePort('127.0.0.1', 0), dir);
    await broker.launch();
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** SIGTERM, as an init system would (see terminate); it saves its persistence file on the way out. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    await terminate(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Freezes the broker: the kernel still accepts bytes, nothing answers. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }

  async dispose(): Promise<void> {
    this.resume();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const config = join(this.dir, 'mosquitto.conf');
    writeFileSync(
      config,
      [
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${this.dir}/`,
        // stderr, because Mosquitto block-buffers a piped stdout and the "running" line would never show.
        'log_dest stderr',
        // Running as root, Mosquitto would switch to the `mosquitto` user, who cannot write here.
        `user ${userInfo().username}`,
        '',
      ].join('\n'),
    );
    const child = spawn(mosquittoBinary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/mosquitto version \S+ running/.test(output)) {
          child.stdout?.off('data', onData);
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null) =>
        reject(new Error(`mosquitto exited with ${code} before it was ready:\n${output}`));
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
    });
    // Keep draining its log so that a full pipe never blocks the broker.
    child.stdout?.resume();
    child.stderr?.resume();
  }
}
