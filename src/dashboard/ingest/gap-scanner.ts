import type { Pool } from 'pg';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { type JournalExtent, MAX_RESEND_RANGE, RESEND_GONE, readGone } from '../../protocol/commands.js';
import type { CentralMessenger } from '../central-messenger.js';
import type { AlarmStore, AlarmView } from '../storage/alarm-store.js';
import { inTransaction, JOB_LOCKS, withJobLock } from '../storage/database.js';
import type { GapReport, SequenceStore } from '../storage/sequence-store.js';

/**
 * Finds gaps in each gateway's sequence numbers. A gap that outlives the grace period (events
 * may simply be in flight) raises a `sequence-gap` alarm and asks the gateway to send the missing
 * events again from its journal; the alarm clears when the numbers are complete. When the gateway
 * answers that it cannot (its journal no longer holds them), the numbers are lost for good: they
 * are recorded as such (`sequence_losses`), a critical `events-lost` alarm names them, and the
 * scanner goes on past them to the gateway's next gap. Runs on one dashboard instance at a time
 * (advisory lock).
 */
export interface GapScannerOptions {
  pool: Pool;
  sequences: SequenceStore;
  alarms: AlarmStore;
  messenger: CentralMessenger | undefined;
  clock: Clock;
  log: Logger;
  intervalMs?: number;
  graceMs?: number;
  /** A resend is asked for again if the gap is still there this long after the last request. */
  resendEveryMs?: number;
  /** Alarms this scanner raised or cleared (for the live streams). */
  alarmsChanged?: (alarms: AlarmView[]) => void;
}

export class GapScanner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: GapScannerOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.scan().finally(() => (this.running = undefined));
    }, this.options.intervalMs ?? 5000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  async scan(): Promise<void> {
    const { pool, log } = this.options;
    try {
      await withJobLock(pool, log, JOB_LOCKS.gapScan, () => this.scanLocked());
    } catch (error) {
      log.error({ err: error }, 'gap scan failed');
    }
  }

  private async scanLocked(): Promise<void> {
    const { sequences, alarms, clock, log } = this.options;
    const now = clock.now();
    for (const report of await sequences.scanGaps()) {
      if (report.missingFrom === undefined) continue;
      const since = report.gapSince ?? new Date(now);
      if (!report.gapSince) await sequences.markGap(report.site, report.gateway, since);
      if (now - since.getTime() < (this.options.graceMs ?? 10_000)) continue;
      // Ask again for a range already asked for only after a while; a new range at once.
      const lastAsk = report.resendRequestedAt?.getTime() ?? 0;
      const sameRange = report.resendRequestedTo !== null && report.missingFrom <= report.resendRequestedTo;
      if (sameRange && now - lastAsk < (this.options.resendEveryMs ?? 60_000)) continue;
      // A wide gap is asked for in parts, as wide as a gateway answers.
      const to = Math.min(report.missingTo ?? report.missingFrom, report.missingFrom + MAX_RESEND_RANGE - 1);
      // Not when a loss was recorded since the scan read the gap (an answer to an earlier request).
      const asking = { at: new Date(now), from: report.missingFrom, to };
      if (!(await sequences.markGap(report.site, report.gateway, since, asking))) continue;
      const raised = await alarms.raiseCentral({
        alarm: 'sequence-gap',
        key: 'sequence-gap',
        severity: 'warning',
        site: report.site,
        gateway: report.gateway,
        detail: `events ${report.missingFrom}-${to} of ${report.site}/${report.gateway} missing; resend requested`,
      });
      this.options.alarmsChanged?.(raised);
      log.warn(
        { site: report.site, gateway: report.gateway, from: report.missingFrom, to },
        'sequence gap: asking the gateway to resend',
      );
      this.options.messenger
        ?.sendCommand(report.site, report.gateway, {
          kind: 'events.resend',
          data: { fromSeq: report.missingFrom, toSeq: to },
        })
        .then(async (result) => {
          log.info({ gateway: report.gateway, result }, 'resend answered');
          // Its journal no longer holds them. Any other answer (a timeout, a refused command, a
          // read that failed) says nothing about its journal: they are asked for again later.
          const { reason } = result;
          if (result.status === 'failed' && reason?.startsWith(RESEND_GONE))
            await this.gone(report, to, reason);
        })
        .catch((error: Error) => log.error({ err: error }, 'resend request failed'));
    }
    for (const { site, gateway } of await sequences.closedGaps()) {
      this.options.alarmsChanged?.(await alarms.clearCentral('sequence-gap', site, gateway));
      log.info({ site, gateway }, 'sequence gap closed');
    }
    // Events of a range recorded as lost that arrived after all: counted on the loss, and told
    // in an alarm of their own (the loss's alarm keeps the gateway's answer), in one transaction.
    const told = await inTransaction(this.options.pool, log, async (client) => {
      const changed: AlarmView[] = [];
      for (const late of await sequences.lateArrivals(client)) {
        const range = `${late.fromSeq}-${late.toSeq}`;
        changed.push(
          ...(await alarms.raiseCentral(
            {
              alarm: 'events-lost',
              key: `events-lost:${range}:arrived`,
              severity: 'warning',
              site: late.site,
              gateway: late.gateway,
              detail:
                `${late.arrived} of events ${range} of ${late.site}/${late.gateway}, recorded as lost (${late.reason}), arrived after all`.slice(
                  0,
                  500,
                ),
            },
            client,
          )),
        );
        log.warn({ ...late }, 'events recorded as lost arrived after all');
      }
      return changed;
    });
    if (told.length > 0) this.options.alarmsChanged?.(told);
    // Reports of alarm conditions below which every number is here now: no raising can come late.
    await alarms.reports.forgetSettled();
  }

  /**
   * The gateway answered that its journal holds none of `missingFrom`…`to`. Where it names what it
   * holds, the loss reaches up to its oldest number held (the whole gap, however wide, in one
   * step), and numbers above the highest it ever issued are not lost but foreign: the events
   * above them were not numbered by this gateway's journal (signed with its key elsewhere, or
   * its journal started again), which raises a critical `sequence-ahead` alarm instead.
   */
  private async gone(report: GapReport, to: number, reason: string): Promise<void> {
    const from = report.missingFrom as number;
    const extent = readGone(reason);
    if (!extent) return this.lost(report.site, report.gateway, from, to, reason);
    const { oldestHeld, highestIssued } = extent;
    if (from > highestIssued) return this.ahead(report, extent);
    // Below its oldest number held, nothing of the gap can come any more.
    const notHeldThrough = Math.min(highestIssued, (oldestHeld ?? highestIssued + 1) - 1);
    const through =
      to <= notHeldThrough ? Math.min(report.missingTo ?? to, notHeldThrough) : Math.min(to, highestIssued);
    return this.lost(report.site, report.gateway, from, through, reason);
  }

  /**
   * The gateway's numbers end below the gap: the events above it were not numbered by it. An
   * incident, raised once while it is open (the gap is asked for again every minute, and the
   * answer stays the same), and only while there is still a gap when the answer comes.
   */
  private async ahead(report: GapReport, { highestIssued }: JournalExtent): Promise<void> {
    if (this.stopped) return;
    const { site, gateway } = report;
    const { sequences, alarms, log } = this.options;
    const raised = (await sequences.hasGap(site, gateway))
      ? await alarms.raiseCentralUnlessOpen({
          alarm: 'sequence-ahead',
          key: 'sequence-ahead',
          severity: 'critical',
          site,
          gateway,
          detail: `${site}/${gateway} holds events numbered up to ${report.highest}, but the gateway issued numbers only up to ${highestIssued}: the events above were signed with its key elsewhere, or its journal started again. Give the gateway a new key and id.`,
        })
      : [];
    if (raised.length === 0) {
      log.debug({ site, gateway, highestIssued }, 'sequence-ahead: still so, alarm open (or gap closed)');
      return;
    }
    this.options.alarmsChanged?.(raised);
    log.error(
      { site, gateway, highest: report.highest, highestIssued },
      'security: events numbered beyond what the gateway issued',
    );
  }

  /** The gateway could not send `fromSeq`…`toSeq` again: recorded as lost, and an alarm names them. */
  private async lost(site: string, gateway: string, fromSeq: number, toSeq: number, reason: string) {
    if (this.stopped) return;
    const { pool, sequences, alarms, log } = this.options;
    // The record and its alarm together, or neither (then the range is asked for again).
    const raised = await inTransaction(pool, log, async (client) => {
      // The ingest's lock order (see retireGateway): ingest order first, then the sequence row.
      await client.query('SELECT identgate_take_ingest_order()');
      if (!(await sequences.declareLost(site, gateway, fromSeq, toSeq, reason, client))) return undefined;
      return alarms.raiseCentral(
        {
          alarm: 'events-lost',
          key: `events-lost:${fromSeq}-${toSeq}`,
          severity: 'critical',
          site,
          gateway,
          detail: `events ${fromSeq}-${toSeq} of ${site}/${gateway} are lost: the gateway could not send them again (${reason})`,
        },
        client,
      );
    });
    if (!raised) return;
    this.options.alarmsChanged?.(raised);
    log.error(
      { site, gateway, from: fromSeq, to: toSeq, reason },
      'security: events lost for good: the gateway could not send them again',
    );
  }
}
