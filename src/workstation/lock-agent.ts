import { execFile } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';
import { checkLockCommand, workstationCommandTopic } from '../protocol/workstation-commands.js';
import type { CentralClient } from './central-client.js';

/**
 * The workstation agent: subscribes to its command topic, verifies each lock command (central
 * signature, addressed here, within its validity, not seen before), runs the configured lock
 * program without a shell, and reports every outcome — locked, failed, rejected — to central.
 */
export interface LockAgentOptions {
  site: string;
  workstation: string;
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  tls?: TlsClientOptions;
  centralKey: KeyObject;
  lockCommand: readonly string[];
  lockTimeoutMs: number;
  central: CentralClient;
  clock: Clock;
  log: Logger;
  /** Told after each command has been handled and reported (tests await it). */
  onResult?: (result: LockResult) => void;
}

export interface LockResult {
  command?: string;
  status: 'ok' | 'failed' | 'rejected';
  reason?: string;
  reported: boolean;
}

export class LockAgent {
  private client: MqttClient | undefined;
  /** Command ids already handled, with their expiry: a replay within the validity is refused. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly options: LockAgentOptions) {}

  async start(): Promise<void> {
    const { url, clientId, username, password, tls, log, site, workstation } = this.options;
    const clientOptions: IClientOptions = {
      ...tls,
      clientId: clientId ?? `identgate-ws-${workstation}`.slice(0, 128),
      // A persistent session: a lock sent while the agent was reconnecting is delivered afterwards.
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
    };
    const client = connect(url, clientOptions);
    this.client = client;
    client.on('error', (error) => log.warn({ err: error }, 'workstation agent broker connection error'));
    client.on('message', (_topic, payload) => {
      this.handle(payload).catch((error: Error) => log.error({ err: error }, 'lock command handling failed'));
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(workstationCommandTopic(site, workstation), { qos: 1 });
    log.info({ site, workstation }, 'workstation agent listening for lock commands');
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  private async handle(payload: Buffer): Promise<void> {
    const { centralKey, site, workstation, clock, log } = this.options;
    const now = clock.now();
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
    const checked = checkLockCommand(payload, centralKey, { site, workstation }, now);
    let result: Omit<LockResult, 'reported'>;
    if (!checked.ok) {
      log.warn({ reason: checked.reason, detail: checked.detail }, 'security: lock command rejected');
      result = {
        status: 'rejected',
        reason: `${checked.reason}: ${checked.detail}`.slice(0, 300),
        ...(checked.id ? { command: checked.id } : {}),
      };
    } else if (this.seen.has(checked.command.id)) {
      log.warn({ command: checked.command.id }, 'security: lock command replayed');
      result = { status: 'rejected', reason: 'replayed', command: checked.command.id };
    } else {
      this.seen.set(checked.command.id, Date.parse(checked.command.expiresAt) + 60_000);
      result = { command: checked.command.id, ...(await this.runLock()) };
      log.info(
        { command: checked.command.id, status: result.status, reason: checked.command.data.reason },
        'lock command handled',
      );
    }
    const reply = await this.options.central.post('/lock-result', result);
    const reported = reply.reached && reply.status === 200;
    if (!reported) log.warn({ command: result.command, reply }, 'lock result not recorded by central');
    this.options.onResult?.({ ...result, reported });
  }

  private runLock(): Promise<{ status: 'ok' | 'failed'; reason?: string }> {
    const [program, ...args] = this.options.lockCommand;
    return new Promise((resolve) => {
      execFile(program as string, args, { timeout: this.options.lockTimeoutMs }, (error, _stdout, stderr) => {
        if (!error) resolve({ status: 'ok' });
        else resolve({ status: 'failed', reason: `${error.message} ${stderr}`.trim().slice(0, 300) });
      });
    });
  }
}
