import type { AlarmBook } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import {
  type Command,
  type CommandCheck,
  checkCommand,
  goneReason,
  type JournalExtent,
  MAX_COMMAND_BYTES,
  MAX_RESEND_RANGE,
  RESEND_BUSY,
  readableCommandId,
} from '../protocol/commands.js';
import type { EventBody } from '../protocol/event-kinds.js';
import type { CentralKeys } from '../protocol/signing.js';
import { RefusalBudget } from './refusal-budget.js';

/**
 * Executes commands from the central side: each is verified (central signature, addressee,
 * validity window), executed at most once (its id is remembered durably before it runs), and
 * answered with a `command.result` event. Forged, misaddressed and retained commands are refused
 * and raise an alarm; expired ones are refused, unless their id ran here (see `ranBefore`).
 */
export interface CommandTargets {
  unlock(door: string, durationMs: number): void;
  lockdown(active: boolean, room?: string): void;
  evacuation(active: boolean): void;
  syncCredentials(): void;
  /** How many events were found and sent again (once the broker took them), and what the journal holds. */
  resend(fromSeq: number, toSeq: number): Promise<{ sent: number; extent: JournalExtent }>;
  /** Reports the alarm conditions held once the book has settled; how many it holds. */
  reportAlarms(request: string, salt: string): Promise<number>;
}

export interface CommandOutcome {
  status: 'ok' | 'failed';
  reason?: string;
}

export interface CommandMemory {
  /** Whether the command id was executed already. */
  seen(id: string): boolean;
  /** Remembers the id durably until `expiresAt`, before the command runs. */
  remember(id: string, expiresAt: number): void;
  /** Keeps the answer a remembered command got, for as long as its id is remembered. */
  answered(id: string, outcome: CommandOutcome): void;
  /** The answer a remembered command got; undefined before it has one (or when it was lost in a crash). */
  outcome(id: string): CommandOutcome | undefined;
  /**
   * The latest expiry among the commands forgotten so far (0 for none). A command that expires no
   * later may have run and been forgotten: after the gateway's clock stepped back it would look
   * valid and new again.
   */
  forgottenThrough(): number;
  /**
   * After a restart that lost the memory: a command issued (its signed `issuedAt`) no later than
   * this may have run before (0 for none). One issued later did not; see GatewayStateStore's
   * `afterLoss` for why, with the clocks apart either way.
   */
  issuedThrough(): number;
}

export interface CentralCommandsOptions {
  site: string;
  gateway: string;
  /** The central key that signs commands; during a rotation of it, the old and the new one. */
  centralKey: CentralKeys | undefined;
  clock: Clock;
  memory: CommandMemory;
  targets: CommandTargets;
  alarms: AlarmBook;
  record(event: EventBody): void;
  log: Logger;
}

export class CentralCommands {
  private resending = false;
  /** Commands being run now (a resend takes a while): a redelivery of one waits for its answer. */
  private readonly running = new Set<string>();
  /** Refusals are answered and alarmed one by one up to a bound per minute (RefusalBudget). */
  private readonly refusals: RefusalBudget;

  constructor(private readonly options: CentralCommandsOptions) {
    this.refusals = new RefusalBudget(options.clock, options.log, 'commands', (detail) =>
      this.alarm(detail, 'critical'),
    );
  }

  /** Reports the refusals still counted (before the outbox closes). */
  close(): void {
    this.refusals.close();
  }

  /**
   * Resolves when the command is answered; most are answered before it returns. `redelivered`:
   * the broker sent it again (MQTT dup), as it does after a connection dropped before its
   * acknowledgement.
   */
  handle(payload: Buffer, retained: boolean, redelivered = false): Promise<void> | undefined {
    const { centralKey, clock, site, gateway, log } = this.options;
    if (payload.length === 0) return; // a retained message being cleared
    if (payload.length > MAX_COMMAND_BYTES) {
      // Never from the central side: not parsed at all (on the thread that runs the doors, a
      // payload of megabytes would hold them up, and a retained one comes at every reconnect).
      if (!this.refusals.admit()) return;
      log.warn({ bytes: payload.length }, 'command refused: too large');
      this.alarm(
        `a payload of ${payload.length} bytes on the commands topic; commands are at most ${MAX_COMMAND_BYTES}`,
        'critical',
      );
      return;
    }
    if (!centralKey) {
      if (!this.refusals.admit()) return;
      log.warn('command refused: no central key configured (central.publicKey)');
      this.alarm('no central key is configured; commands cannot be verified', 'warning');
      this.refuse(payload, 'no-central-key: this gateway has no central key to verify commands with');
      return;
    }
    if (retained) {
      if (!this.refusals.admit()) return;
      this.alarm('a retained message arrived on the commands topic; commands are never retained', 'critical');
      this.refuse(payload, 'retained: commands are never retained');
      return;
    }
    const checked = checkCommand(payload, centralKey, { site, gateway }, clock.now());
    const ranBefore = this.ranBefore(checked, payload);
    if (ranBefore) return this.repeated(ranBefore, redelivered);
    if (!checked.ok) {
      if (!this.refusals.admit()) return;
      log.warn({ reason: checked.reason, detail: checked.detail }, 'command refused');
      if (
        checked.reason === 'bad-signature' ||
        checked.reason === 'wrong-gateway' ||
        checked.reason === 'bad-command' ||
        checked.reason === 'bad-json'
      ) {
        this.alarm(
          `${checked.reason}: ${checked.detail}`,
          checked.reason === 'bad-signature' ? 'critical' : 'warning',
        );
      }
      if (checked.id) this.result(checked.id, 'unknown', 'rejected', `${checked.reason}: ${checked.detail}`);
      return;
    }
    const command = checked.command;
    const { memory } = this.options;
    const expiresAt = Date.parse(command.expiresAt);
    const unknown = this.mayHaveRun(command);
    if (unknown) {
      // Its id is not known here, yet it may have run: refused, as a replay would be. A
      // redelivery too: the memory that would give its answer is what is missing.
      if (!this.refusals.admit()) return;
      log.warn(
        { command: command.id, issuedAt: command.issuedAt, expiresAt: command.expiresAt },
        'command refused: may have run before',
      );
      this.alarm(unknown.alarm, 'warning');
      this.result(command.id, command.kind, 'rejected', unknown.reason);
      return;
    }
    memory.remember(command.id, expiresAt);
    this.running.add(command.id);
    const succeeded = (detail: string | undefined) => {
      this.running.delete(command.id);
      this.result(command.id, command.kind, 'ok', detail);
      memory.answered(command.id, { status: 'ok', ...(detail ? { reason: detail } : {}) });
      log.info({ command: command.id, kind: command.kind }, 'command executed');
    };
    const failed = (error: Error) => {
      this.running.delete(command.id);
      this.result(command.id, command.kind, 'failed', error.message);
      memory.answered(command.id, { status: 'failed', reason: error.message.slice(0, 500) });
      log.error({ err: error, command: command.id, kind: command.kind }, 'command failed');
    };
    try {
      const detail = this.execute(command);
      if (detail instanceof Promise)
        // Answered later: the answer itself can fail then (the outbox closed by a shutdown).
        return detail
          .then(succeeded, failed)
          .catch((error: Error) =>
            log.error({ err: error, command: command.id }, 'could not answer a command'),
          );
      succeeded(detail);
    } catch (error) {
      failed(error as Error);
    }
    return undefined;
  }

  private execute(command: Command): string | undefined | Promise<string> {
    const { targets } = this.options;
    switch (command.kind) {
      case 'door.unlock':
        targets.unlock(command.data.door, command.data.durationMs);
        return undefined;
      case 'lockdown.set':
        targets.lockdown(command.data.active, command.data.room);
        return undefined;
      case 'evacuation.set':
        targets.evacuation(command.data.active);
        return undefined;
      case 'credentials.sync':
        targets.syncCredentials();
        return undefined;
      case 'events.resend': {
        const { fromSeq, toSeq } = command.data;
        if (toSeq < fromSeq || toSeq - fromSeq >= MAX_RESEND_RANGE)
          throw new Error(`bad range ${fromSeq}-${toSeq}`);
        return this.resendOnce(fromSeq, toSeq);
      }
      case 'alarms.report':
        // Answered once the report is recorded, after it: the book settles first (CarriedConditions).
        return targets
          .reportAlarms(command.id, command.data.salt)
          .then((held) => `${held} alarm conditions reported`);
    }
  }

  /**
   * Why a sound command whose id is not remembered may have run here all the same, if it may:
   * issued before a restart that lost the door state (and the ids with it), or expiring no later
   * than ids forgotten since (run again after the gateway's clock stepped back).
   */
  private mayHaveRun(command: Command): { reason: string; alarm: string } | undefined {
    const { memory } = this.options;
    const issuedThrough = memory.issuedThrough();
    if (Date.parse(command.issuedAt) <= issuedThrough) {
      const bound = new Date(issuedThrough).toISOString();
      return {
        reason: 'replayed: it may have run before this gateway restarted and lost its door state',
        alarm: `command ${command.id} (${command.kind}) was issued at ${command.issuedAt}, no later than ${bound}: it may have run before the gateway restarted and lost its door state, so it was not run; one issued after ${bound} is run`,
      };
    }
    const forgotten = memory.forgottenThrough();
    if (Date.parse(command.expiresAt) <= forgotten) {
      return {
        reason: 'replayed: it may have run before this gateway forgot it',
        alarm: `command ${command.id} (${command.kind}) expires no later than commands already forgotten (${new Date(forgotten).toISOString()}): it may have run before; the gateway's clock may have stepped back`,
      };
    }
    return undefined;
  }

  /**
   * The command, when its id ran here before, whatever its validity window says now: the broker
   * redelivers a command after an outage that may outlast it, and the answer must still be the
   * one it got, not `expired`. Only a command that passed the signature and address checks:
   * checkCommand makes them before the window's, so one refused for its window alone is the
   * central side's, for this gateway, and anything else never learns a stored outcome.
   */
  private ranBefore(checked: CommandCheck, payload: Buffer): Command | undefined {
    const { memory } = this.options;
    if (checked.ok) return memory.seen(checked.command.id) ? checked.command : undefined;
    if (checked.reason !== 'expired' && checked.reason !== 'not-yet-valid') return undefined;
    if (checked.id === undefined || !memory.seen(checked.id)) return undefined;
    // Its schema was checked: only the window failed.
    return JSON.parse(payload.toString('utf8')) as Command;
  }

  /**
   * A command whose id ran here before. The broker's redelivery (its acknowledgement did not get
   * through before the connection dropped) is answered as it was the first time, without an
   * alarm: its first answer may have been lost in a crash, and the central side would otherwise
   * hear only a refusal of a door unlock that happened. Anything else is a replay.
   */
  private repeated(command: Command, redelivered: boolean): undefined {
    const { memory, log } = this.options;
    if (redelivered && this.running.has(command.id)) {
      log.info({ command: command.id }, 'command delivered again while still running; answered when done');
      return undefined;
    }
    if (redelivered) {
      const earlier = memory.outcome(command.id);
      log.info({ command: command.id, outcome: earlier?.status }, 'command delivered again; not run again');
      if (earlier) this.result(command.id, command.kind, earlier.status, earlier.reason);
      // It may have run: not refused, but not known to have worked either.
      else
        this.result(
          command.id,
          command.kind,
          'failed',
          'outcome unknown: the gateway stopped while running it; not run again',
        );
      return undefined;
    }
    if (!this.refusals.admit()) return undefined;
    log.warn({ command: command.id }, 'command refused: replayed');
    this.alarm(`replayed command ${command.id}`, 'warning');
    this.result(command.id, command.kind, 'rejected', 'replayed');
    return undefined;
  }

  /**
   * One resend at a time: a request repeated while the first is still being served (a large one
   * takes a while) would only send the same events twice. Refused as busy, not gone, it is asked
   * for again later.
   */
  private async resendOnce(fromSeq: number, toSeq: number): Promise<string> {
    if (this.resending) throw new Error(`${RESEND_BUSY} a resend is under way`);
    this.resending = true;
    try {
      const { sent, extent } = await this.options.targets.resend(fromSeq, toSeq);
      if (sent === 0) throw new Error(goneReason(fromSeq, toSeq, extent));
      return `${sent} events sent again`;
    } finally {
      this.resending = false;
    }
  }

  /** Answers a command refused before its checks, under its id when one can be read. */
  private refuse(payload: Buffer, reason: string): void {
    const { id } = readableCommandId(parseOrUndefined(payload));
    if (id) this.result(id, 'unknown', 'rejected', reason);
  }

  private result(command: string, kind: string, status: 'ok' | 'rejected' | 'failed', reason?: string): void {
    this.options.record({
      kind: 'command.result',
      data: { command, kind, status, ...(reason ? { reason: reason.slice(0, 500) } : {}) },
    });
  }

  private alarm(detail: string, severity: 'critical' | 'warning'): void {
    this.options.alarms.notify({
      alarm: 'command-rejected',
      key: `command-rejected:${this.options.clock.now()}`,
      severity,
      detail: detail.slice(0, 500),
    });
  }
}

export type { Command };

function parseOrUndefined(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined; // not JSON: no id to answer under
  }
}
