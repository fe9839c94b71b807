import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { CentralCommands, type CommandTargets } from '../../../src/gateway/central-commands.js';
import { GatewayStateStore } from '../../../src/gateway/gateway-state-store.js';
import { type Clock, FakeClock, systemClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import {
  CLOCK_SKEW_MS,
  MAX_COMMAND_VALIDITY_MS,
  readGone,
  signCommand,
} from '../../../src/protocol/commands.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { type CentralKeys, generateSigningKeyPair } from '../../../src/protocol/signing.js';
import { Uuidv7Generator } from '../../../src/protocol/uuidv7.js';

/**
 * The gateway's handling of commands from the central side, without a broker: what it answers
 * (command.result) and which alarms it raises for what it refuses, and that nothing refused runs.
 */
const central = generateSigningKeyPair();
const ids = new Uuidv7Generator();
const target = { site: 'hq', gateway: 'gw-1' };

/**
 * `withoutKey`: a gateway configured without the central key; `trusted`: the central keys it
 * trusts (the central key alone). `stateDir` and `clock`: the state directory and time of a
 * gateway that is restarted (a fresh directory and the system clock).
 */
function rig(
  options: { withoutKey?: boolean; trusted?: CentralKeys; stateDir?: string; clock?: Clock } = {},
) {
  const { withoutKey = false, trusted = central.publicKey, clock = systemClock } = options;
  const centralKey = withoutKey ? undefined : trusted;
  const recorded: EventBody[] = [];
  const ran: string[] = [];
  const memory = memoryOnDisk(options.stateDir, clock);
  const targets = {
    unlock: (door: string) => ran.push(`unlock ${door}`),
    lockdown: () => ran.push('lockdown'),
    evacuation: () => ran.push('evacuation'),
    syncCredentials: () => ran.push('sync'),
    // The journal holds 11-20 of the 20 numbers it issued.
    resend: async (fromSeq: number, toSeq: number) => {
      ran.push(`resend ${fromSeq}-${toSeq}`);
      const sent = Math.max(0, Math.min(toSeq, 20) - Math.max(fromSeq, 11) + 1);
      return { sent, extent: { oldestHeld: 11, highestIssued: 20 } };
    },
    // Holds two conditions; the report is an event of its own, recorded before the answer.
    reportAlarms: async (request: string, salt: string) => {
      ran.push(`report ${salt}`);
      recorded.push({ kind: 'alarm.conditions', data: { request, held: 2, conditions: [] } });
      return 2;
    },
  } as unknown as CommandTargets;
  const commands = new CentralCommands({
    ...target,
    centralKey,
    clock,
    memory,
    targets,
    alarms: new AlarmBook((event) => recorded.push(event)),
    record: (event) => recorded.push(event),
    log: silentLogger,
  });
  const results = () => recorded.filter((e) => e.kind === 'command.result').map((e) => e.data);
  const alarms = () => recorded.filter((e) => e.kind === 'alarm.raised').map((e) => e.data);
  return { commands, ran, results, alarms, memory, recorded };
}

/** The gateway's command memory as it keeps it: in its state file. */
function memoryOnDisk(
  stateDir = mkdtempSync(join(tmpdir(), 'idg-commands-')),
  clock: Clock = systemClock,
): GatewayStateStore {
  const store = new GatewayStateStore(stateDir, silentLogger, 50, clock);
  store.load(0);
  return store;
}

const sync = (key = central.privateKey, to = target) =>
  signCommand({ kind: 'credentials.sync', data: {} }, to, ids.next(), Date.now(), 60_000, key);
const resend = (fromSeq: number, toSeq: number) =>
  signCommand(
    { kind: 'events.resend', data: { fromSeq, toSeq } },
    target,
    ids.next(),
    Date.now(),
    60_000,
    central.privateKey,
  );
const unlock = (nowMs: number) =>
  signCommand(
    { kind: 'door.unlock', data: { door: 'main', durationMs: 5000 } },
    target,
    ids.next(),
    nowMs,
    60_000,
    central.privateKey,
  );
const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

afterEach(() => {
  vi.useRealTimers();
});

describe('commands at the gateway', () => {
  it('runs a sound command once and answers ok; a replay is refused', () => {
    const { commands, ran, results } = rig();
    const command = sync();
    commands.handle(bytes(command), false);
    commands.handle(bytes(command), false);
    expect(ran).toEqual(['sync']);
    expect(results()).toEqual([
      { command: command.id, kind: 'credentials.sync', status: 'ok' },
      { command: command.id, kind: 'credentials.sync', status: 'rejected', reason: 'replayed' },
    ]);
  });

  it('answers a command the broker delivers again as it did the first time, without running it or an alarm', () => {
    const { commands, ran, results, alarms } = rig();
    const command = sync();
    commands.handle(bytes(command), false);
    commands.handle(bytes(command), false, true);
    expect(ran).toEqual(['sync']);
    expect(results()).toEqual([
      { command: command.id, kind: 'credentials.sync', status: 'ok' },
      { command: command.id, kind: 'credentials.sync', status: 'ok' },
    ]);
    expect(alarms()).toEqual([]);
  });

  it('answers outcome unknown, without running it again or an alarm, to a redelivery of a command whose answer a crash lost', () => {
    const { commands, ran, results, alarms, memory } = rig();
    const command = sync();
    // Remembered before it ran; the process ended before its answer was kept.
    memory.remember(command.id, Date.parse(command.expiresAt));
    commands.handle(bytes(command), false, true);
    expect(ran).toEqual([]);
    expect(results()).toEqual([
      {
        command: command.id,
        kind: 'credentials.sync',
        status: 'failed',
        reason: 'outcome unknown: the gateway stopped while running it; not run again',
      },
    ]);
    expect(alarms()).toEqual([]);
  });

  it('answers a redelivery after a restart and an outage longer than its validity as the first time, without running it', () => {
    const clock = new FakeClock(Date.now());
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-commands-'));
    const before = rig({ stateDir, clock });
    const command = unlock(clock.now());
    before.commands.handle(bytes(command), false);
    // The power goes; the gateway is back two minutes later and the broker delivers it again.
    clock.advance(120_000);
    const after = rig({ stateDir, clock });
    after.commands.handle(bytes(command), false, true);
    expect(before.ran).toEqual(['unlock main']);
    expect(after.ran).toEqual([]);
    expect(after.results()).toEqual([{ command: command.id, kind: 'door.unlock', status: 'ok' }]);
    expect(after.alarms()).toEqual([]);
  });

  it('refuses a command that ran as replayed, not as expired, when it comes again without the dup flag after its validity', () => {
    const clock = new FakeClock(Date.now());
    const { commands, ran, results, alarms } = rig({ clock });
    const command = unlock(clock.now());
    commands.handle(bytes(command), false);
    clock.advance(120_000);
    commands.handle(bytes(command), false);
    expect(ran).toEqual(['unlock main']);
    expect(results().at(-1)).toEqual({
      command: command.id,
      kind: 'door.unlock',
      status: 'rejected',
      reason: 'replayed',
    });
    expect(alarms().map((a) => a.severity)).toEqual(['warning']);
  });

  it('answers a forged, altered or misaddressed copy of an expired command that ran with its refusal, never with the outcome kept', () => {
    const clock = new FakeClock(Date.now());
    const { commands, ran, results } = rig({ clock });
    const command = unlock(clock.now());
    commands.handle(bytes(command), false);
    clock.advance(120_000);
    const body = { kind: 'door.unlock' as const, data: { door: 'main', durationMs: 5000 } };
    const issuedAt = clock.now() - 120_000;
    const forged = signCommand(
      body,
      target,
      command.id,
      issuedAt,
      60_000,
      generateSigningKeyPair().privateKey,
    );
    const altered = { ...command, data: { door: 'vault', durationMs: 30_000 } };
    const misaddressed = signCommand(
      body,
      { site: 'hq', gateway: 'gw-2' },
      command.id,
      issuedAt,
      60_000,
      central.privateKey,
    );
    for (const copy of [forged, altered, misaddressed]) commands.handle(bytes(copy), false, true);
    expect(ran).toEqual(['unlock main']);
    expect(
      results()
        .slice(1)
        .map((r) => [r.command, r.kind, r.status, r.reason?.split(':')[0]]),
    ).toEqual([
      [command.id, 'unknown', 'rejected', 'bad-signature'],
      [command.id, 'unknown', 'rejected', 'bad-signature'],
      [command.id, 'unknown', 'rejected', 'wrong-gateway'],
    ]);
  });

  it('refuses a command forgotten since it ran when the clock steps back into its validity', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const { commands, ran, results } = rig();
    const captured = sync();
    commands.handle(bytes(captured), false);
    // Three minutes on, another command makes the memory forget the first (a minute past its expiry).
    vi.setSystemTime(start + 3 * 60_000);
    commands.handle(bytes(sync()), false);
    // The clock steps back (a gateway restored to a saved time) and the first comes again.
    vi.setSystemTime(start + 10_000);
    commands.handle(bytes(captured), false);
    expect(ran).toEqual(['sync', 'sync']);
    expect(results().at(-1)).toEqual({
      command: captured.id,
      kind: 'credentials.sync',
      status: 'rejected',
      reason: 'replayed: it may have run before this gateway forgot it',
    });
  });

  const losses: Array<[string, (text: string) => string]> = [
    ['cut short', (text) => text.slice(0, -10)],
    ['of an unexpected shape', (text) => JSON.stringify({ ...JSON.parse(text), totpFloor: 1.5 })],
  ];

  it.each(losses)(
    'refuses a captured command that ran before a restart found its state file %s',
    (_, damage) => {
      const clock = new FakeClock(Date.now());
      const stateDir = mkdtempSync(join(tmpdir(), 'idg-commands-'));
      const before = rig({ stateDir, clock });
      const captured = unlock(clock.now());
      before.commands.handle(bytes(captured), false);
      before.memory.close();
      const file = join(stateDir, 'door-state.json');
      writeFileSync(file, damage(readFileSync(file, 'utf8')));
      const after = rig({ stateDir, clock });
      after.commands.handle(bytes(captured), false);
      expect(before.ran).toEqual(['unlock main']);
      expect(after.ran).toEqual([]);
      expect(after.results()).toEqual([
        {
          command: captured.id,
          kind: 'door.unlock',
          status: 'rejected',
          reason: 'replayed: it may have run before this gateway restarted and lost its door state',
        },
      ]);
      expect(after.alarms()).toEqual([
        expect.objectContaining({
          severity: 'warning',
          detail: expect.stringMatching(
            new RegExp(
              `^command ${captured.id} \\(door.unlock\\) was issued at ${captured.issuedAt}, no later than ${new Date(clock.now() + CLOCK_SKEW_MS).toISOString()}: it may have run before the gateway restarted and lost its door state`,
            ),
          ),
        }),
      ]);
    },
  );

  /** A gateway started, at the fake clock's time, on a state file that cannot be read. */
  function afterLoss(clock: FakeClock, stateDir = mkdtempSync(join(tmpdir(), 'idg-commands-'))) {
    writeFileSync(join(stateDir, 'door-state.json'), 'not json');
    return { ...rig({ stateDir, clock }), stateDir, restart: clock.now() };
  }
  const lockdownOff = (issuedAt: number) =>
    signCommand(
      { kind: 'lockdown.set', data: { active: false } },
      target,
      ids.next(),
      issuedAt,
      60_000,
      central.privateKey,
    );

  // The central clock `ahead` of the gateway's: it signs at the gateway's time plus that. The
  // command issued the clock skew after the restart may have run before it; the next millisecond
  // not, whenever it comes, and however far apart the clocks are within the skew allowed.
  it.each([
    ['in step with', 0],
    ['the skew allowed ahead of', CLOCK_SKEW_MS],
    ['the skew allowed behind', -CLOCK_SKEW_MS],
  ])(
    'after a lost state refuses a command issued up to the clock skew after the restart, and runs one issued later at once, with the central clock %s the gateway',
    (_, ahead) => {
      const clock = new FakeClock(Date.now());
      const { commands, ran, results, alarms, restart } = afterLoss(clock);
      const bound = restart + CLOCK_SKEW_MS;
      // Each arrives as soon as the central clock reads its issuedAt.
      const centralReads = (ms: number) => clock.advance(ms - ahead - clock.now());
      centralReads(bound);
      const atBound = lockdownOff(bound);
      commands.handle(bytes(atBound), false);
      centralReads(bound + 1);
      const after = lockdownOff(bound + 1);
      commands.handle(bytes(after), false);
      expect(ran).toEqual(['lockdown']);
      expect(results().map((r) => [r.command, r.status, r.reason])).toEqual([
        [
          atBound.id,
          'rejected',
          'replayed: it may have run before this gateway restarted and lost its door state',
        ],
        [after.id, 'ok', undefined],
      ]);
      expect(alarms()).toHaveLength(1);
      // At most a minute after the restart, not once the commands valid then have expired.
      expect(clock.now() - restart).toBeLessThanOrEqual(2 * CLOCK_SKEW_MS + 1);
    },
  );

  it('refuses a redelivery of a command issued before a restart that lost its door state: its answer is lost too', () => {
    const clock = new FakeClock(Date.now());
    const stateDir = mkdtempSync(join(tmpdir(), 'idg-commands-'));
    const before = rig({ stateDir, clock });
    const command = unlock(clock.now());
    before.commands.handle(bytes(command), false);
    writeFileSync(join(stateDir, 'door-state.json'), 'not json');
    clock.advance(1000);
    const after = afterLoss(clock, stateDir);
    after.commands.handle(bytes(command), false, true);
    expect(after.ran).toEqual([]);
    expect(after.results()).toEqual([
      expect.objectContaining({
        command: command.id,
        status: 'rejected',
        reason: expect.stringMatching(/^replayed: /),
      }),
    ]);
  });

  it('keeps refusing what was issued before a lost state across a further restart, and answers a redelivery of what ran since as it did', () => {
    const clock = new FakeClock(Date.now());
    const first = afterLoss(clock);
    // Valid as long as a command can be, so that it still is at the second restart.
    const captured = signCommand(
      { kind: 'door.unlock', data: { door: 'main', durationMs: 5000 } },
      target,
      ids.next(),
      first.restart,
      MAX_COMMAND_VALIDITY_MS,
      central.privateKey,
    );
    clock.advance(CLOCK_SKEW_MS + 1);
    const since = unlock(clock.now());
    first.commands.handle(bytes(since), false);
    // A crash two minutes on: the file is readable, the bound in it.
    clock.advance(2 * 60_000);
    const second = rig({ stateDir: first.stateDir, clock });
    second.commands.handle(bytes(since), false, true);
    second.commands.handle(bytes(captured), false);
    second.commands.handle(bytes(since), false);
    expect(first.ran).toEqual(['unlock main']);
    expect(second.ran).toEqual([]);
    expect(second.results().map((r) => [r.command, r.status, r.reason])).toEqual([
      [since.id, 'ok', undefined],
      [
        captured.id,
        'rejected',
        'replayed: it may have run before this gateway restarted and lost its door state',
      ],
      [since.id, 'rejected', 'replayed'],
    ]);
  });

  it('counts refusals after a lost state in the refusal budget', () => {
    const clock = new FakeClock(Date.now());
    const { commands, ran, results, alarms } = afterLoss(clock);
    for (let i = 0; i < 25; i++) commands.handle(bytes(unlock(clock.now())), false);
    expect(ran).toEqual([]);
    expect(results()).toHaveLength(20);
    expect(alarms()).toHaveLength(20);
    clock.advance(60_000);
    expect(alarms().at(-1)).toMatchObject({
      severity: 'critical',
      detail: expect.stringMatching(/^5 more payloads on the commands topic/),
    });
  });

  it('answers every refusal under the id it can read, and raises the alarm', () => {
    const { commands, ran, results, alarms } = rig();
    const forged = sync(generateSigningKeyPair().privateKey);
    const { sig: _, ...unsigned } = sync();
    const elsewhere = sync(central.privateKey, { site: 'hq', gateway: 'gw-2' });
    const retained = sync();
    commands.handle(bytes(forged), false);
    commands.handle(bytes(unsigned), false);
    commands.handle(bytes(elsewhere), false);
    commands.handle(bytes(retained), true);
    commands.handle(bytes('not json'), false);
    expect(ran).toEqual([]);
    expect(
      results().map((r) => [r.command, r.status, (r as { reason?: string }).reason?.split(':')[0]]),
    ).toEqual([
      [forged.id, 'rejected', 'bad-signature'],
      [unsigned.id, 'rejected', 'bad-command'],
      [elsewhere.id, 'rejected', 'wrong-gateway'],
      [retained.id, 'rejected', 'retained'],
    ]);
    expect(alarms().map((a) => [a.alarm, a.severity])).toEqual([
      ['command-rejected', 'critical'],
      ['command-rejected', 'warning'],
      ['command-rejected', 'warning'],
      ['command-rejected', 'critical'],
      ['command-rejected', 'warning'],
    ]);
  });

  it('sends a range again; for one it holds none of, answers gone with the numbers it holds and issued', async () => {
    const { commands, ran, results } = rig();
    const some = resend(9, 12);
    const none = resend(3, 8);
    const wrong = resend(8, 3);
    for (const command of [some, none, wrong]) await commands.handle(bytes(command), false);
    expect(ran).toEqual(['resend 9-12', 'resend 3-8']);
    expect(results()).toEqual([
      { command: some.id, kind: 'events.resend', status: 'ok', reason: '2 events sent again' },
      {
        command: none.id,
        kind: 'events.resend',
        status: 'failed',
        reason: 'gone: events 3-8 are no longer in the outbox (holds from 11, highest issued 20)',
      },
      { command: wrong.id, kind: 'events.resend', status: 'failed', reason: 'bad range 8-3' },
    ]);
    const gone = results()[1] as { reason: string };
    expect(readGone(gone.reason)).toEqual({ oldestHeld: 11, highestIssued: 20 });
  });

  it('answers a request for its alarm conditions after the report, with how many it holds', async () => {
    const { commands, ran, recorded } = rig();
    const salt = 'AAAAAAAAAAAAAAAAAAAAAA';
    const request = signCommand(
      { kind: 'alarms.report', data: { salt } },
      target,
      ids.next(),
      Date.now(),
      60_000,
      central.privateKey,
    );
    await commands.handle(bytes(request), false);
    expect(ran).toEqual([`report ${salt}`]);
    expect(recorded.map((e) => [e.kind, e.data])).toEqual([
      ['alarm.conditions', { request: request.id, held: 2, conditions: [] }],
      [
        'command.result',
        { command: request.id, kind: 'alarms.report', status: 'ok', reason: '2 alarm conditions reported' },
      ],
    ]);
  });

  it('serves one resend at a time: another asked for meanwhile is refused as busy, and served once the first is done', async () => {
    let finish: () => void = () => undefined;
    const asked: string[] = [];
    const recorded: EventBody[] = [];
    const commands = new CentralCommands({
      ...target,
      centralKey: central.publicKey,
      clock: systemClock,
      memory: memoryOnDisk(),
      targets: {
        resend: (fromSeq: number, toSeq: number) => {
          asked.push(`${fromSeq}-${toSeq}`);
          if (asked.length > 1)
            return Promise.resolve({ sent: 1, extent: { oldestHeld: 1, highestIssued: 9 } });
          return new Promise((resolve) => {
            finish = () => resolve({ sent: 5, extent: { oldestHeld: 1, highestIssued: 9 } });
          });
        },
      } as unknown as CommandTargets,
      alarms: new AlarmBook((event) => recorded.push(event)),
      record: (event) => recorded.push(event),
      log: silentLogger,
    });
    const results = () => recorded.filter((e) => e.kind === 'command.result').map((e) => e.data);
    const [first, meanwhile, after] = [resend(1, 5), resend(1, 5), resend(6, 6)];
    const serving = commands.handle(bytes(first), false);
    await commands.handle(bytes(meanwhile), false);
    expect(results()).toEqual([
      {
        command: meanwhile.id,
        kind: 'events.resend',
        status: 'failed',
        reason: 'busy: a resend is under way',
      },
    ]);
    finish();
    await serving;
    await commands.handle(bytes(after), false);
    expect(asked).toEqual(['1-5', '6-6']);
    expect(results().slice(1)).toEqual([
      { command: first.id, kind: 'events.resend', status: 'ok', reason: '5 events sent again' },
      { command: after.id, kind: 'events.resend', status: 'ok', reason: '1 events sent again' },
    ]);
    expect(readGone((results()[0] as { reason: string }).reason)).toBeUndefined();
  });

  it('refuses a payload larger than any command before parsing it, retained or not, with a critical alarm', () => {
    const { commands, ran, results, alarms } = rig();
    const command = sync();
    const huge = bytes({ ...command, padding: 'x'.repeat(64 * 1024) });
    commands.handle(huge, false);
    commands.handle(huge, true);
    expect(ran).toEqual([]);
    expect(results()).toEqual([]);
    expect(alarms().map((a) => [a.alarm, a.severity])).toEqual([
      ['command-rejected', 'critical'],
      ['command-rejected', 'critical'],
    ]);
  });

  it('answers and alarms at most 20 refusals a minute, counts the rest in one alarm, and still runs a sound command meanwhile', () => {
    const clock = new FakeClock(Date.now());
    const recorded: EventBody[] = [];
    const ran: string[] = [];
    const commands = new CentralCommands({
      ...target,
      centralKey: central.publicKey,
      clock,
      memory: memoryOnDisk(),
      targets: { syncCredentials: () => ran.push('sync') } as unknown as CommandTargets,
      alarms: new AlarmBook((event) => recorded.push(event)),
      record: (event) => recorded.push(event),
      log: silentLogger,
    });
    const forger = generateSigningKeyPair().privateKey;
    const forged = () =>
      signCommand({ kind: 'credentials.sync', data: {} }, target, ids.next(), clock.now(), 60_000, forger);
    for (let i = 0; i < 25; i++) commands.handle(bytes(forged()), false);
    const sound = signCommand(
      { kind: 'credentials.sync', data: {} },
      target,
      ids.next(),
      clock.now(),
      60_000,
      central.privateKey,
    );
    commands.handle(bytes(sound), false);
    const kinds = () => recorded.map((e) => e.kind);
    expect(kinds().filter((k) => k === 'alarm.raised')).toHaveLength(20);
    expect(kinds().filter((k) => k === 'command.result')).toHaveLength(21);
    expect(ran).toEqual(['sync']);
    clock.advance(60_000);
    const summary = recorded.at(-1);
    expect(summary?.kind).toBe('alarm.raised');
    expect(summary?.data).toMatchObject({ alarm: 'command-rejected', severity: 'critical' });
    expect(summary?.data).toMatchObject({
      detail: expect.stringMatching(/^5 more payloads on the commands topic/),
    });
    // A new minute: reported one by one again.
    commands.handle(bytes(forged()), false);
    expect(recorded.at(-1)?.kind).toBe('command.result');
  });

  /**
   * Commands whose resend runs until `finish()`: it then answers that 5 events were sent again.
   * Results and alarms go to `record`.
   */
  function heldResend(record: (event: EventBody) => void) {
    let finish: () => void = () => undefined;
    const commands = new CentralCommands({
      ...target,
      centralKey: central.publicKey,
      clock: systemClock,
      memory: memoryOnDisk(),
      targets: {
        resend: () =>
          new Promise((resolve) => {
            finish = () => resolve({ sent: 5, extent: { oldestHeld: 1, highestIssued: 5 } });
          }),
      } as unknown as CommandTargets,
      alarms: new AlarmBook(record),
      record,
      log: silentLogger,
    });
    return { commands, finish: () => finish() };
  }

  it('leaves a redelivery of a command still running to the answer it gets when done', async () => {
    const recorded: EventBody[] = [];
    const { commands, finish } = heldResend((event) => recorded.push(event));
    const command = resend(1, 5);
    const running = commands.handle(bytes(command), false);
    commands.handle(bytes(command), false, true);
    expect(recorded).toEqual([]);
    finish();
    await running;
    expect(recorded.map((e) => e.data)).toEqual([
      { command: command.id, kind: 'events.resend', status: 'ok', reason: '5 events sent again' },
    ]);
  });

  it('logs an answer it cannot give any more (the outbox closed by a shutdown during a resend), rejecting nothing', async () => {
    let closed = false;
    const { commands, finish } = heldResend(() => {
      if (closed) throw new Error('outbox journal is closed');
    });
    const answered = commands.handle(bytes(resend(1, 5)), false);
    closed = true;
    finish();
    await expect(answered).resolves.toBeUndefined();
  });

  it('without a central key refuses everything, answering under the id', () => {
    const { commands, ran, results, alarms } = rig({ withoutKey: true });
    const command = sync();
    commands.handle(bytes(command), false);
    expect(ran).toEqual([]);
    expect(results()).toEqual([
      {
        command: command.id,
        kind: 'unknown',
        status: 'rejected',
        reason: 'no-central-key: this gateway has no central key to verify commands with',
      },
    ]);
    expect(alarms().map((a) => a.severity)).toEqual(['warning']);
  });
});

/** While the central signing key is rotated, the gateway trusts the old key and the new one. */
describe('commands during a rotation of the central key', () => {
  const next = generateSigningKeyPair();

  it('runs a command signed by the current key and one signed by the new key', () => {
    const { commands, ran, results } = rig({ trusted: [central.publicKey, next.publicKey] });
    const before = sync(central.privateKey);
    const after = sync(next.privateKey);
    commands.handle(bytes(before), false);
    commands.handle(bytes(after), false);
    expect(ran).toEqual(['sync', 'sync']);
    expect(results()).toEqual([
      { command: before.id, kind: 'credentials.sync', status: 'ok' },
      { command: after.id, kind: 'credentials.sync', status: 'ok' },
    ]);
  });

  it('refuses a command signed by a key it does not trust as it does with one key: bad signature, critical alarm', () => {
    const { commands, ran, results, alarms } = rig({ trusted: [central.publicKey, next.publicKey] });
    const forged = sync(generateSigningKeyPair().privateKey);
    commands.handle(bytes(forged), false);
    expect(ran).toEqual([]);
    expect(results()).toEqual([
      {
        command: forged.id,
        kind: 'unknown',
        status: 'rejected',
        reason: 'bad-signature: signature does not verify with the central key',
      },
    ]);
    expect(alarms().map((a) => [a.alarm, a.severity])).toEqual([['command-rejected', 'critical']]);
  });

  it('refuses a command signed by the new key while it trusts the current key alone', () => {
    const { commands, ran, results } = rig();
    const early = sync(next.privateKey);
    commands.handle(bytes(early), false);
    expect(ran).toEqual([]);
    expect(results().map((r) => (r as { reason?: string }).reason?.split(':')[0])).toEqual(['bad-signature']);
  });
});
