import { execFile } from 'node:child_process';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';
import { MAX_COMMAND_VALIDITY_MS } from '../protocol/commands.js';
import type { CentralKeys } from '../protocol/signing.js';
import { CLOCK_SKEW_MS } from '../protocol/validity.js';
import { workstationCommandTopic } from '../protocol/workstation-commands.js';
import type { CentralClient } from './central-client.js';
import { LocalRetention } from './local-retention.js';
import { LockHandler, type LockOutcome, type LockResult } from './lock-handler.js';
import { SeenLockCommands } from './seen-lock-commands.js';
import { UnreportedResults } from './unreported-results.js';

export type { LockResult } from './lock-handler.js';

const RETENTION_INTERVAL_MS = 3_600_000;
/** How long a lock result central did not take is kept and sent again (central gives up after 8 h). */
const RESULTS_KEEP_MS = 24 * 3_600_000;
/** How often the agent tells central it runs (central warns after agentSilenceSeconds, 300 s). */
export const HEARTBEAT_INTERVAL_MS = 60_000;

/**
 * The workstation agent: subscribes to its command topic and hands every lock command to the
 * LockHandler, which verifies it, runs the configured lock program without a shell (once for all
 * commands waiting), and reports every outcome — locked, failed, rejected — to central.
 */
export interface LockAgentOptions {
  site: string;
  workstation: string;
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  tls?: TlsClientOptions;
  /** The central key that signs lock commands; during a rotation of it, the old and the new one. */
  centralKey: CentralKeys;
  lockCommand: readonly string[];
  lockTimeoutMs: number;
  /** How long after its issue a lock command that arrives expired is still run (0: never). */
  lateMs: number;
  /** The workstation's state directory: the replay memory, and the login gate's grace. */
  stateDir: string;
  /** The login gate's grace and the local retention period: the agent runs the retention hourly. */
  graceMs: number;
  retentionDays: number;
  central: CentralClient;
  /**
   * Whether the workstation is shutting down as the agent stops (default: systemd says
   * `stopping`); then the agent tells central, which settles the locks owed here.
   */
  systemStopping?: () => Promise<boolean>;
  clock: Clock;
  log: Logger;
  /** Told after each command has been handled and reported (tests await it). */
  onResult?: (result: LockResult) => void;
}

export class LockAgent {
  private client: MqttClient | undefined;
  private readonly seen: SeenLockCommands;
  private readonly handler: LockHandler;
  private readonly retention: LocalRetention;
  private retentionTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private heartbeats: Promise<void> = Promise.resolve();

  constructor(private readonly options: LockAgentOptions) {
    const { lateMs, stateDir, log, lockCommand, lockTimeoutMs, graceMs, retentionDays, clock } = options;
    this.retention = new LocalRetention({ stateDir, graceMs, retentionDays, clock, log });
    // An id must be remembered as long as its command could pass the checks: late, or in its window.
    this.seen = new SeenLockCommands({
      stateDir,
      keepMs: lateMs + MAX_COMMAND_VALIDITY_MS + CLOCK_SKEW_MS,
      log,
    });
    this.handler = new LockHandler({
      site: options.site,
      workstation: options.workstation,
      centralKey: options.centralKey,
      lateMs,
      seen: this.seen,
      stateDir,
      lock: () => runLockProgram(lockCommand, lockTimeoutMs),
      unreported: new UnreportedResults({ stateDir, keepMs: RESULTS_KEEP_MS, clock, log }),
      central: options.central,
      clock: options.clock,
      log,
      ...(options.onResult ? { onResult: options.onResult } : {}),
    });
  }

  async start(): Promise<void> {
    const { url, clientId, username, password, tls, log, site, workstation, clock } = this.options;
    // Before the first message: a persistent session delivers what it holds right at connect.
    this.seen.load(clock.now());
    this.runRetention();
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
    client.on('message', (_topic, payload) => this.handler.receive(payload));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(workstationCommandTopic(site, workstation), { qos: 1 });
    log.info({ site, workstation }, 'workstation agent listening for lock commands');
    this.heartbeat();
    // Connected again after a broker outage: say so at once rather than at the next beat.
    client.on('connect', () => this.beat());
  }

  /** Resolves once the heartbeats sent so far are answered (tests). */
  async beaten(): Promise<void> {
    await this.heartbeats;
  }

  /**
   * Stops receiving, then lets what was received finish: its lock run and its reports. When the
   * workstation shuts down, central is told so (its sessions end with it).
   */
  async stop(): Promise<void> {
    this.retentionTimer?.cancel();
    this.retentionTimer = undefined;
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
    await this.client?.endAsync();
    this.client = undefined;
    await this.handler.settled();
    await this.heartbeats;
    const { central, log } = this.options;
    if (await (this.options.systemStopping ?? systemStopping)()) {
      const reply = await central.post('/agent-heartbeat', { state: 'shutdown' });
      if (reply.reached && reply.status === 200) log.info('workstation agent: central told of the shutdown');
      else log.warn({ reply }, 'workstation agent: central not told of the shutdown; its locks stay owed');
    }
  }

  /** A heartbeat now and every minute while the agent runs; results central missed go with it. */
  private heartbeat(): void {
    this.beat();
    this.handler.flushUnreported().catch(() => undefined);
    this.heartbeatTimer = this.options.clock.setTimeout(() => this.heartbeat(), HEARTBEAT_INTERVAL_MS);
  }

  /**
   * Tells central the agent runs, only while it is connected to the broker (a lock would not
   * reach it otherwise, which central's silence alarm is there to say). Failures are logged.
   */
  private beat(): void {
    if (!this.client?.connected) return;
    const { central, log } = this.options;
    this.heartbeats = this.heartbeats.then(async () => {
      const reply = await central.post('/agent-heartbeat', {});
      if (!reply.reached || reply.status !== 200)
        log.warn({ reply }, 'workstation agent: central did not take the heartbeat');
    });
    this.heartbeats = this.heartbeats.catch((error: Error) =>
      log.warn({ err: error }, 'workstation agent: heartbeat failed'),
    );
  }

  /** Local retention now and every hour while the agent runs (it logs its own failures). */
  private runRetention(): void {
    this.retention.run();
    this.retentionTimer = this.options.clock.setTimeout(() => this.runRetention(), RETENTION_INTERVAL_MS);
  }
}

/** Whether systemd is shutting the system down (`systemctl is-system-running` says `stopping`). */
export function systemStopping(): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('systemctl', ['is-system-running'], { timeout: 2000 }, (_error, stdout) =>
      resolve(String(stdout).trim() === 'stopping'),
    );
  });
}

/** Runs the lock program (no shell), bounded by the timeout. */
export function runLockProgram(command: readonly string[], timeoutMs: number): Promise<LockOutcome> {
  const [program, ...args] = command;
  return new Promise((resolve) => {
    execFile(program as string, args, { timeout: timeoutMs }, (error, _stdout, stderr) => {
      if (!error) resolve({ status: 'ok' });
      else resolve({ status: 'failed', reason: `${error.message} ${stderr}`.trim().slice(0, 300) });
    });
  });
}
