import type { Pool } from 'pg';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';

/**
 * Whether each workstation's lock agent runs: the agent reports every minute (a heartbeat), and a
 * workstation whose agent has been quiet for `silenceMs` gets a `workstation-agent-offline`
 * warning, since a lock on leave would not reach it; the next heartbeat clears it. A workstation
 * whose agent never reported is not watched (it may have none). Every dashboard instance checks;
 * an alarm already open is not raised again.
 */
export interface WorkstationAgentsOptions {
  pool: Pool;
  alarms: Pick<AlarmStore, 'raiseCentralUnlessOpen' | 'clearCentral'>;
  alarmsChanged: (changed: AlarmView[]) => void;
  silenceMs: number;
  /** The workstation shuts down: settle its owed locks (WorkstationLocker.shutDown). */
  onShutdown?: (workstation: string) => Promise<void>;
  clock: Clock;
  log: Logger;
}

export interface AgentStatus {
  /** When the agent last reported; absent when it never did. */
  agentSeenAt?: string;
  /** When the agent said the workstation shuts down, if it has not reported since. */
  shutDownAt?: string;
  /** Locks sent to it and not yet confirmed. */
  owedLocks: number;
}

export const agentAlarmKey = (workstation: string) =>
  `workstation-agent-offline:${workstation}`.slice(0, 200);

export class WorkstationAgents {
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(private readonly options: WorkstationAgentsOptions) {}

  /**
   * The agent of `workstation` reported that it runs, or (`shutdown`) that it stops because the
   * workstation shuts down: its sessions end with it, so its owed locks are settled
   * (`onShutdown`) and nothing is watched or locked there until it reports again. False when no
   * such workstation is registered.
   */
  async heartbeat(workstation: string, state: 'running' | 'shutdown' = 'running'): Promise<boolean> {
    const { pool, alarms, clock } = this.options;
    const now = new Date(clock.now());
    const result = await pool.query<{ site: string }>(
      state === 'shutdown'
        ? 'UPDATE workstations SET agent_seen_at = $2, agent_shutdown_at = $2 WHERE id = $1 RETURNING site'
        : 'UPDATE workstations SET agent_seen_at = $2, agent_shutdown_at = NULL WHERE id = $1 RETURNING site',
      [workstation, now],
    );
    const site = result.rows[0]?.site;
    if (site === undefined) return false;
    if (state === 'shutdown') {
      this.options.log.info({ workstation }, 'workstation shuts down: its owed locks are settled');
      await this.options.onShutdown?.(workstation);
    }
    const cleared = await alarms.clearCentral(agentAlarmKey(workstation), site, null);
    if (cleared.length > 0) {
      this.options.log.info({ workstation }, 'workstation agent reports again');
      this.options.alarmsChanged(cleared);
    }
    return true;
  }

  /** Raises the alarm for every workstation whose agent has been quiet too long. */
  async check(): Promise<void> {
    const { pool, alarms, clock, silenceMs, log } = this.options;
    const quiet = await pool.query<{ id: string; site: string; agent_seen_at: Date }>(
      `SELECT id, site, agent_seen_at FROM workstations
        WHERE agent_seen_at < $1 AND agent_shutdown_at IS NULL ORDER BY id`,
      [new Date(clock.now() - silenceMs)],
    );
    for (const row of quiet.rows) {
      const raised = await alarms.raiseCentralUnlessOpen({
        alarm: 'workstation-agent-offline',
        key: agentAlarmKey(row.id),
        severity: 'warning',
        site: row.site,
        detail: `the lock agent of workstation ${row.id} last reported at ${row.agent_seen_at.toISOString()}: a lock on leave would not reach it`,
      });
      if (raised.length > 0) {
        log.warn({ workstation: row.id }, 'security: a workstation lock agent went quiet');
        this.options.alarmsChanged(raised);
      }
    }
  }

  /** Per registered workstation: its agent's last report and its owed locks. */
  async status(): Promise<Map<string, AgentStatus>> {
    const result = await this.options.pool.query<{
      id: string;
      agent_seen_at: Date | null;
      agent_shutdown_at: Date | null;
      owed: number;
    }>(
      `SELECT w.id, w.agent_seen_at, w.agent_shutdown_at,
              (SELECT count(*) FROM workstation_locks l WHERE l.workstation_id = w.id)::int AS owed
         FROM workstations w`,
    );
    return new Map(
      result.rows.map((r) => [
        r.id,
        {
          owedLocks: r.owed,
          ...(r.agent_seen_at ? { agentSeenAt: r.agent_seen_at.toISOString() } : {}),
          ...(r.agent_shutdown_at ? { shutDownAt: r.agent_shutdown_at.toISOString() } : {}),
        },
      ]),
    );
  }

  start(intervalMs = 30_000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.checking) return;
      this.checking = this.check()
        .catch((error: Error) => this.options.log.error({ err: error }, 'workstation agents not checked'))
        .finally(() => {
          this.checking = undefined;
        });
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checking;
  }
}
