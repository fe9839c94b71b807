import type { Pool } from 'pg';
import type { Logger } from '../../lib/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { withTransaction } from '../storage/transaction.js';
import { workstationAlarmKey } from './alarm-keys.js';

/**
 * Whether each workstation's lock agent runs: the agent reports every minute (a heartbeat), and a
 * workstation whose agent has been quiet for `silenceMs` gets a `workstation-agent-offline`
 * warning, since a lock on leave would not reach it; the next heartbeat clears it. A workstation
 * whose agent never reported is not watched (it may have none). Every dashboard instance checks;
 * an alarm already open is not raised again. Times are the database's, so that instances whose
 * clocks differ agree.
 *
 * An agent stopped by the workstation's shutdown says so: its owed locks are settled
 * (`onShutdown`), its silence is not watched and no lock is sent there, until the agent reports
 * again or central allows a login there (which shows it runs). Both ends are audited.
 */
export interface WorkstationAgentsOptions {
  pool: Pool;
  alarms: Pick<AlarmStore, 'raiseCentralUnlessOpen' | 'clearCentralAnySite'>;
  alarmsChanged: (changed: AlarmView[]) => void;
  audit: AuditLog;
  silenceMs: number;
  /** The workstation shuts down: settle its owed locks (WorkstationLocker.shutDown). */
  onShutdown?: (workstation: string) => Promise<void>;
  log: Logger;
}

export interface AgentStatus {
  /** When the agent last reported; absent when it never did. */
  agentSeenAt?: string;
  /** When the agent said the workstation shuts down, if nothing showed it running since. */
  shutDownAt?: string;
  /** Locks sent to it and not yet confirmed. */
  owedLocks: number;
}

export const agentAlarmKey = (workstation: string) =>
  workstationAlarmKey('workstation-agent-offline', workstation);

export class WorkstationAgents {
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(private readonly options: WorkstationAgentsOptions) {}

  /**
   * The agent of `workstation` reported that it runs, or (`shutdown`) that it stops because the
   * workstation shuts down. False when no such workstation is registered.
   */
  async heartbeat(workstation: string, state: 'running' | 'shutdown' = 'running'): Promise<boolean> {
    const { pool, alarms } = this.options;
    if (state === 'shutdown') {
      const known = await pool.query('SELECT 1 FROM workstations WHERE id = $1', [workstation]);
      if (known.rowCount === 0) return false;
      this.options.log.info({ workstation }, 'workstation shuts down: its owed locks are settled');
      await this.options.onShutdown?.(workstation);
      return true;
    }
    const site = await this.running(workstation, 'heartbeat');
    if (site === undefined) return false;
    // At whatever site it was raised: the workstation may have moved since.
    const cleared = await alarms.clearCentralAnySite(agentAlarmKey(workstation));
    if (cleared.length > 0) {
      this.options.log.info({ workstation }, 'workstation agent reports again');
      this.options.alarmsChanged(cleared);
    }
    return true;
  }

  /**
   * Someone tries to log in there (a login check, before it is answered): the workstation runs,
   * whatever its agent said at its last shutdown. A shutdown noted is ended (locks are owed and
   * sent again) and its agent watched from now on.
   */
  async loginChecked(workstation: string): Promise<void> {
    await this.running(workstation, 'login-check');
  }

  /** Raises the alarm for every workstation whose agent has been quiet too long. */
  async check(): Promise<void> {
    const { pool, alarms, silenceMs, log } = this.options;
    const quiet = await pool.query<{ id: string; site: string; agent_seen_at: Date }>(
      `SELECT id, site, agent_seen_at FROM workstations
        WHERE agent_seen_at < now() - $1 * interval '1 millisecond' AND agent_shutdown_at IS NULL
        ORDER BY id`,
      [silenceMs],
    );
    for (const row of quiet.rows) {
      // Raised under the workstation's row, if it is still quiet: a report that came in meanwhile
      // (it updates that row first) is not followed by a warning it would not clear.
      const raised = await withTransaction(pool, async (db) => {
        const still = await db.query(
          `SELECT 1 FROM workstations WHERE id = $1 AND agent_shutdown_at IS NULL
              AND agent_seen_at < now() - $2 * interval '1 millisecond' FOR NO KEY UPDATE`,
          [row.id, silenceMs],
        );
        if (still.rowCount === 0) return [];
        return alarms.raiseCentralUnlessOpen(
          {
            alarm: 'workstation-agent-offline',
            key: agentAlarmKey(row.id),
            severity: 'warning',
            site: row.site,
            detail: `the lock agent of workstation ${row.id} last reported at ${row.agent_seen_at.toISOString()}: a lock on leave would not reach it`,
          },
          db,
        );
      });
      if (raised.length > 0) {
        log.warn({ workstation: row.id }, 'security: a workstation lock agent went quiet');
        this.options.alarmsChanged(raised);
      }
    }
  }

  /** Per registered workstation: its agent's last report, a shutdown it reported, its owed locks. */
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

  /**
   * Notes that the workstation runs and ends a shutdown it had reported, audited; the
   * workstation's site, or undefined when unregistered (or, for a login check, not shut down: the
   * agent's own reports keep its time then).
   */
  private async running(workstation: string, by: 'heartbeat' | 'login-check'): Promise<string | undefined> {
    const result = await this.options.pool.query<{ site: string; was: Date | null }>(
      `UPDATE workstations w SET agent_seen_at = now(), agent_shutdown_at = NULL
         FROM (SELECT id, agent_shutdown_at AS was FROM workstations
                WHERE id = $1 AND ($2 OR agent_shutdown_at IS NOT NULL) FOR NO KEY UPDATE) o
        WHERE w.id = o.id
        RETURNING w.site, o.was`,
      [workstation, by === 'heartbeat'],
    );
    const row = result.rows[0];
    if (row?.was) {
      await this.options.audit.record({
        actor: by === 'heartbeat' ? `workstation:${workstation}` : 'system',
        action: 'workstation.agent-back',
        target: `workstation:${workstation}`,
        details: { shutDownAt: row.was.toISOString(), by },
      });
    }
    return row?.site;
  }
}
