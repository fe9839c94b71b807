import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import type { TotpUsageStore } from '../controllers/totp-verifier.js';
import { type Clock, systemClock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { writeFileAtomic } from '../lib/state-files.js';
import { CLOCK_SKEW_MS, MAX_COMMAND_VALIDITY_MS } from '../protocol/commands.js';
import type { CommandMemory, CommandOutcome } from './central-commands.js';
import { readStateFile } from './state-file-reader.js';

/**
 * The door state that must survive a restart: the TOTP time step each person used last, badge and
 * reader lockouts, who is inside which room, lockdown and evacuation. Written behind the decision
 * (a decision never waits for the disk) within `flushMs`; a start after a crash is detected by the
 * `clean` flag and makes every TOTP step up to the current one count as used, so that a code seen
 * just before the crash cannot be used again. A file that cannot be read is a lost state, not a
 * first start (see `lost`).
 */
const Throttle = Type.Object({
  failures: Type.Record(Type.String(), Type.Array(Type.Number())),
  lockedUntil: Type.Record(Type.String(), Type.Number()),
});
const StateFile = Type.Object({
  clean: Type.Boolean(),
  totp: Type.Record(Type.String(), Type.Integer()),
  totpFloor: Type.Integer(),
  badgeThrottle: Throttle,
  readerThrottle: Throttle,
  rooms: Type.Record(
    Type.String(),
    Type.Object({ inside: Type.Record(Type.String(), Type.Number()), lockdown: Type.Boolean() }),
  ),
  siteLockdown: Type.Boolean(),
  evacuation: Type.Boolean(),
  /** Ids of executed commands, with their expiry (epoch ms), so a replay is refused after a restart. */
  commands: Type.Optional(Type.Record(Type.String(), Type.Number())),
  /** The answers those commands got, for a redelivery (see CentralCommands). */
  commandOutcomes: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object({
        status: Type.Union([Type.Literal('ok'), Type.Literal('failed')]),
        reason: Type.Optional(Type.String()),
      }),
    ),
  ),
  /** The latest expiry among the command ids forgotten so far. */
  commandsForgottenThrough: Type.Optional(Type.Number()),
  /**
   * After a lost state: commands issued (their signed `issuedAt`) no later than this may have run
   * before it was lost, and are refused (see `afterLoss`). Kept until none of them can be valid.
   * Optional, like every field added to the file, so that an older file is not read as a lost state.
   */
  commandsIssuedThrough: Type.Optional(Type.Number()),
  /**
   * The part of that bound not read from the clock at the loss (the newest write, plus the
   * skew), kept until a synchronised clock has checked the bound (see `clockSynchronised`).
   */
  commandsIssuedFloor: Type.Optional(Type.Number()),
});
export type DoorStateFile = Static<typeof StateFile>;
const stateValidator = Compile(StateFile);

/** A gateway's door state before anything happened: the state file of a first start. */
export const emptyDoorState = (): DoorStateFile => ({
  clean: true,
  totp: {},
  totpFloor: 0,
  badgeThrottle: { failures: {}, lockedUntil: {} },
  readerThrottle: { failures: {}, lockedUntil: {} },
  rooms: {},
  siteLockdown: false,
  evacuation: false,
  commands: {},
});

/**
 * What a start assumes when the last state is lost. Unclean, so no TOTP code up to now is
 * accepted again. Entry is held in a site lockdown until an officer ends it (a lockdown in force
 * must not end by a damaged file); an evacuation is not assumed, since it would release every
 * door (exits work anyway).
 *
 * The ids of the commands that ran are lost too. Every command that can have run before is
 * refused by its signed `issuedAt`: one issued no later than `nowMs + CLOCK_SKEW_MS`
 * (`commandsIssuedThrough`). Why that bound, with the central clock ahead or behind:
 *
 * - It rests on the gateway's own rule, not on how far the clocks are apart: the gateway refuses
 *   a command issued more than CLOCK_SKEW_MS after its own clock reads (`not-yet-valid`), so one
 *   that ran at gateway time t ≤ nowMs was issued at most t + CLOCK_SKEW_MS ≤ nowMs +
 *   CLOCK_SKEW_MS, whichever way, and by how much, the central clock was off.
 * - What it costs: with the central clock d ahead of the gateway's, a command issued right after
 *   the restart carries about nowMs + d; it is refused for the first CLOCK_SKEW_MS − d after
 *   the restart (d = +30 s: none; clocks in step: 30 s; d = −30 s, central behind: a minute),
 *   and runs when sent again after that. The site lockdown this state imposes can so be ended
 *   by a command sent a minute after the restart at most, not only once every command valid at
 *   the restart has expired.
 * - What it assumes: the gateway's clock did not step back across the restart (a command run at
 *   a gateway time after nowMs escapes the bound). A gateway without a battery-backed clock boots
 *   behind, though; so nowMs is at least the newest write among the gateway's other state files
 *   (newestWrite): a command that ran was followed by its `command.result` in the outbox, written
 *   at the gateway time it ran. The clock check (ClockSyncMonitor) reports a clock that is off.
 *
 * The bound is not an expiry (`commandsForgottenThrough`): a command that ran just before the
 * restart can expire as late as nowMs + CLOCK_SKEW_MS + MAX_COMMAND_VALIDITY_MS, and refusing
 * by expiry up to then refuses the dashboard's commands (valid for 60 s) for four and a half
 * minutes after the restart, the one that ends the lockdown too. Once that has passed,
 * `settleIssuedBound` makes it one.
 */
/**
 * The newest modification time (epoch ms) among the files of the state directory and its
 * `outbox`, `except` the one lost; 0 when none can be read.
 */
function newestWrite(stateDir: string, except: string): number {
  let newest = 0;
  for (const dir of [stateDir, join(stateDir, 'outbox')]) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const path = join(dir, name);
      if (path === except) continue;
      try {
        newest = Math.max(newest, statSync(path).mtimeMs);
      } catch {
        // Gone meanwhile, or unreadable: it tells nothing.
      }
    }
  }
  return Math.floor(newest);
}

const afterLoss = (nowMs: number, newestWriteMs: number): DoorStateFile => ({
  ...emptyDoorState(),
  clean: false,
  siteLockdown: true,
  evacuation: false,
  commandsIssuedThrough: Math.max(nowMs, newestWriteMs) + CLOCK_SKEW_MS,
  commandsIssuedFloor: newestWriteMs + CLOCK_SKEW_MS,
});

export class GatewayStateStore implements TotpUsageStore, CommandMemory {
  private state: DoorStateFile = emptyDoorState();
  private readonly path: string;
  private timer: NodeJS.Timeout | undefined;
  /** Collects the other parts of the state at write time. */
  snapshot:
    | (() => Omit<
        DoorStateFile,
        | 'clean'
        | 'totp'
        | 'totpFloor'
        | 'commands'
        | 'commandOutcomes'
        | 'commandsForgottenThrough'
        | 'commandsIssuedThrough'
        | 'commandsIssuedFloor'
      >)
    | undefined;
  wasUnclean = false;
  /**
   * Why the last state could not be read, when it could not (a missing file is a first start, not
   * a loss). The start then assumes `afterLoss`; an officer must be told, as lockdown, evacuation
   * and occupancy are not known.
   */
  lost: string | undefined;

  /** A monotonic reading at load, to tell what a synchronised clock would have read then. */
  private loadedAt = 0;

  constructor(
    private readonly stateDir: string,
    private readonly log: Logger,
    private readonly flushMs = 50,
    private readonly clock: Clock = systemClock,
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.path = join(stateDir, 'door-state.json');
  }

  /** Reads the last state; `currentStep` is the TOTP step now, used as the floor after a crash. */
  load(currentStep: number, options: { ranBefore?: boolean } = {}): DoorStateFile {
    this.loadedAt = this.monotonic();
    const read = this.read(options.ranBefore ?? false);
    if (read && 'lost' in read) {
      this.lost = read.lost;
      this.state = afterLoss(this.clock.now(), newestWrite(this.stateDir, this.path));
      this.log.error(
        {
          file: this.path,
          reason: read.lost,
          commandsIssuedThrough: new Date(this.state.commandsIssuedThrough ?? 0).toISOString(),
        },
        'door state lost: the site is held in lockdown until an officer ends it, no evacuation is in force, and commands issued up to the clock skew after now are refused as possibly run before',
      );
    } else if (read) {
      this.state = read;
      this.settleIssuedBound(this.clock.now());
    }
    if (!this.state.clean) {
      this.wasUnclean = true;
      this.state.totpFloor = Math.max(this.state.totpFloor, currentStep);
      this.log.warn(
        { floorStep: this.state.totpFloor },
        'unclean shutdown: TOTP codes up to the current time step are refused',
      );
    }
    this.state.clean = false;
    // As read: the runtime has not applied it yet, so its snapshot would put back empty rooms,
    // no lockdown and no evacuation.
    this.write();
    return this.state;
  }

  get floorStep(): number {
    return this.state.totpFloor;
  }

  lastStep(person: string): number | undefined {
    return this.state.totp[person];
  }

  use(person: string, step: number): void {
    this.state.totp[person] = step;
    this.changed();
  }

  forget(keep: (person: string, step: number) => boolean): void {
    let dropped = false;
    for (const [person, step] of Object.entries(this.state.totp))
      if (!keep(person, step)) {
        delete this.state.totp[person];
        dropped = true;
      }
    if (dropped) this.changed();
  }

  seen(id: string): boolean {
    return this.state.commands?.[id] !== undefined;
  }

  /**
   * Written at once, before the command runs: a crash must not let it run twice. Ids a minute
   * past their expiry are forgotten, and the latest such expiry kept (forgottenThrough).
   */
  remember(id: string, expiresAt: number): void {
    const commands = this.state.commands ?? {};
    const outcomes = this.state.commandOutcomes ?? {};
    const now = this.clock.now();
    this.settleIssuedBound(now);
    for (const [known, until] of Object.entries(commands))
      if (until < now - 60_000) {
        delete commands[known];
        delete outcomes[known];
        this.state.commandsForgottenThrough = Math.max(this.state.commandsForgottenThrough ?? 0, until);
      }
    commands[id] = expiresAt;
    this.state.commands = commands;
    this.state.commandOutcomes = outcomes;
    this.writeNow();
  }

  /**
   * Written at once, like the id: the broker redelivers a command only when the process ended
   * before its PUBACK, which goes out right after the handler returns, so a later write would
   * never be on disk when it is needed.
   */
  answered(id: string, outcome: CommandOutcome): void {
    if (this.state.commands?.[id] === undefined) return;
    this.state.commandOutcomes = { ...this.state.commandOutcomes, [id]: outcome };
    this.writeNow();
  }

  outcome(id: string): CommandOutcome | undefined {
    return this.state.commandOutcomes?.[id];
  }

  forgottenThrough(): number {
    return this.state.commandsForgottenThrough ?? 0;
  }

  issuedThrough(): number {
    return this.state.commandsIssuedThrough ?? 0;
  }

  /**
   * The clock is now known to be synchronised. A lost state's bound read from a clock that booted
   * far ahead (a wrong real-time clock) would refuse the officers' commands, the one ending the
   * lockdown too, until real time caught up with it. The bound is lowered once to what the
   * synchronised clock says this start was, or the floor from the other files' newest write if
   * later: the loss happened before this start, so every command that ran before it ran by then.
   * A bound already no later is kept (a clock that booted behind is covered by the floor). Applies
   * to the first synchronised check after the loss, in this run or a later one; returns the change.
   */
  clockSynchronised(): { from: number; to: number } | undefined {
    const bound = this.state.commandsIssuedThrough;
    const floor = this.state.commandsIssuedFloor;
    if (bound === undefined || floor === undefined) return undefined;
    delete this.state.commandsIssuedFloor;
    const started = this.clock.now() - (this.monotonic() - this.loadedAt);
    const checked = Math.max(started + CLOCK_SKEW_MS, floor);
    // A second or less is the time between the two readings, not a clock that was off.
    const lowered = checked < bound - 1000;
    if (lowered) this.state.commandsIssuedThrough = checked;
    // Without the runtime's snapshot: the first check runs before the doors have applied the
    // state read (see load); later, a change since the last snapshot has its write pending.
    this.write();
    return lowered ? { from: bound, to: checked } : undefined;
  }

  /**
   * Drops the bound of a lost state once it can no longer refuse anything: every command issued
   * by then expired by bound + MAX_COMMAND_VALIDITY_MS, and is refused as expired once the clock
   * skew allowed has passed too. The commands it stood for are then what forgottenThrough stands
   * for, ids forgotten with their expiry (here at most bound + MAX_COMMAND_VALIDITY_MS), so that
   * a later step back of the clock does not make one valid and unknown again. That refuses no
   * command the bound let through: any expiring that early is expired by now.
   */
  private settleIssuedBound(now: number): void {
    const bound = this.state.commandsIssuedThrough;
    if (bound === undefined || now <= bound + MAX_COMMAND_VALIDITY_MS + CLOCK_SKEW_MS) return;
    delete this.state.commandsIssuedThrough;
    delete this.state.commandsIssuedFloor;
    this.state.commandsForgottenThrough = Math.max(
      this.state.commandsForgottenThrough ?? 0,
      bound + MAX_COMMAND_VALIDITY_MS,
    );
  }

  /** Something in the state changed; it is written within `flushMs`. */
  changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.writeNow();
    }, this.flushMs);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.state.clean = true;
    this.writeNow();
  }

  /** The state on disk; undefined for a first start (no file). */
  private read(ranBefore: boolean): DoorStateFile | { lost: string } | undefined {
    const read = readStateFile(this.path, stateValidator);
    // No file is a first start, unless the gateway ran here before: then it was removed (or
    // moved to lost+found by a file system check), and is as lost as a damaged one.
    if ('missing' in read)
      return ranBefore ? { lost: 'the file is missing, though this gateway ran here before' } : undefined;
    return 'lost' in read ? read : read.value;
  }

  private writeNow(): void {
    if (this.snapshot) Object.assign(this.state, this.snapshot());
    this.write();
  }

  private write(): void {
    try {
      writeFileAtomic(this.path, JSON.stringify(this.state));
    } catch (error) {
      this.log.error({ err: error, file: this.path }, 'could not write the door state');
    }
  }
}
