import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmBook } from '../../../src/controllers/alarm-book.js';
import { EventRecorder } from '../../../src/gateway/event-recorder.js';
import { OutboxJournal } from '../../../src/gateway/outbox/outbox-journal.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { createLogger, silentLogger } from '../../../src/lib/logger.js';
import { type Envelope, signingBytes } from '../../../src/protocol/envelope.js';
import type { EventBody, EventData, EventKind } from '../../../src/protocol/event-kinds.js';
import { generateSigningKeyPair, verifyBytes } from '../../../src/protocol/signing.js';

/**
 * The gateway's event recorder with a real outbox journal and its alarms wired back into it, as
 * the gateway wires them: an alarm is an event recorded by the same recorder.
 */
const keys = generateSigningKeyPair();
const journals: OutboxJournal[] = [];

afterEach(async () => {
  for (const journal of journals.splice(0)) await journal.close();
});

/** `tamper`: changes each event on its way from the alarm book to the recorder. */
function rig(tamper: (event: EventBody) => EventBody = (event) => event) {
  const journal = new OutboxJournal({ dir: mkdtempSync(join(tmpdir(), 'idg-recorder-')), log: silentLogger });
  journal.recover();
  journals.push(journal);
  const logLines: string[] = [];
  const alarms = new AlarmBook((event) => recorder.record(tamper(event)));
  const recorder: EventRecorder = new EventRecorder({
    site: 'hq',
    gateway: 'gw-1',
    signingKey: keys.privateKey,
    journal,
    clock: new FakeClock(),
    alarms,
    log: createLogger({ level: 'warn', format: 'json', write: (line) => logLines.push(line) }),
    onDurable: () => {},
    onFailure: () => {},
  });
  /** Every event on disk in the journal, in order. */
  const journaled = async (): Promise<Envelope[]> => {
    await journal.flush();
    const events: Envelope[] = [];
    for await (const chunk of journal.read(1, journal.lastSequence))
      events.push(...chunk.map((r) => JSON.parse(r.payload.toString('utf8')) as Envelope));
    return events;
  };
  const raised = async () =>
    (await journaled())
      .filter((e) => e.kind === 'alarm.raised')
      .map((e) => e.data as EventData<'alarm.raised'>);
  return { recorder, journaled, raised, logLines };
}

const grant = {
  door: 'main',
  direction: 'in',
  person: 'ada',
  badge: 'B-ADA',
  factors: ['badge', 'totp'],
  unlockMs: 5000,
} satisfies EventData<'access.granted'>;

/** What a controller with a defect might emit: data the schema of its kind does not allow. */
const unchecked = (kind: EventKind, data: object) => ({ kind, data }) as EventBody;
const badGrant = (data: object) => unchecked('access.granted', data);

describe('event recorder', () => {
  it('records a valid event without an alarm or a log line', async () => {
    const { recorder, journaled, raised, logLines } = rig();
    recorder.record({ kind: 'access.granted', data: grant });
    expect((await journaled()).map((e) => e.kind)).toEqual(['access.granted']);
    expect(await raised()).toEqual([]);
    expect(logLines).toEqual([]);
  });

  it('records an event with a field its schema lacks as emitted, signed and journaled', async () => {
    const { recorder, journaled } = rig();
    const data = { ...grant, name: 'Ada Lovelace' };
    const envelope = recorder.record(badGrant(data));
    expect(envelope).toMatchObject({ kind: 'access.granted', seq: 1, data });
    expect(verifyBytes(keys.publicKey, signingBytes(envelope), envelope.sig)).toBe(true);
    expect((await journaled())[0]).toEqual(envelope);
  });

  it('raises one warning naming the kind and what the schema refused, after the event', async () => {
    const { recorder, journaled, raised } = rig();
    recorder.record(badGrant({ ...grant, name: 'Ada Lovelace' }));
    expect((await journaled()).map((e) => e.kind)).toEqual(['access.granted', 'alarm.raised']);
    expect(await raised()).toEqual([
      {
        alarm: 'internal-error',
        key: 'event-schema:access.granted',
        severity: 'warning',
        detail:
          'access.granted: /data/ must not have additional properties: "name" (first at seq 1: sent as emitted, quarantined centrally)',
      },
    ]);
  });

  it('names a field of the wrong type', async () => {
    const { recorder, raised } = rig();
    recorder.record(badGrant({ ...grant, unlockMs: '5000' }));
    expect((await raised())[0]?.detail).toMatch(/^access\.granted: \/data\/unlockMs must be integer /);
  });

  it('keeps the event data out of the alarm and the log', async () => {
    const { recorder, journaled, logLines } = rig();
    const secrets = { person: 'ada-l', badge: 'B-4711', name: 'Ada Lovelace', totp: '492039' };
    recorder.record(badGrant({ ...grant, ...secrets }));
    const [, alarm] = await journaled();
    expect(logLines).toHaveLength(1);
    for (const value of Object.values(secrets)) {
      expect(JSON.stringify(alarm?.data)).not.toContain(value);
      expect(logLines[0]).not.toContain(value);
    }
  });

  it('raises the alarm once per kind, however many of its events fail', async () => {
    const { recorder, raised, logLines } = rig();
    recorder.record(badGrant({ ...grant, name: 'Ada Lovelace' }));
    recorder.record(badGrant({ ...grant, unlockMs: -1 }));
    recorder.record(unchecked('door.locked', { door: 'main', extra: true }));
    expect((await raised()).map((a) => a.key)).toEqual([
      'event-schema:access.granted',
      'event-schema:door.locked',
    ]);
    expect(logLines).toHaveLength(3);
  });

  it('records an event of a kind no schema knows, with the alarm', async () => {
    const { recorder, journaled, raised } = rig();
    recorder.record(unchecked('door.exploded' as EventKind, { door: 'main' }));
    expect((await journaled()).map((e) => e.kind)).toEqual(['door.exploded', 'alarm.raised']);
    expect((await raised())[0]).toMatchObject({
      key: 'event-schema:door.exploded',
      detail: expect.stringMatching(/^kind "door\.exploded" is not known /),
    });
  });

  it('ends when the alarm event fails its own check', async () => {
    const tamper = (event: EventBody) => unchecked(event.kind, { ...event.data, unexpected: true });
    const { recorder, journaled } = rig(tamper);
    recorder.record(badGrant({ ...grant, name: 'Ada Lovelace' }));
    const events = await journaled();
    expect(events.map((e) => [e.kind, 'key' in e.data ? e.data.key : undefined])).toEqual([
      ['access.granted', undefined],
      ['alarm.raised', 'event-schema:access.granted'],
      ['alarm.raised', 'event-schema:alarm.raised'],
    ]);
  });

  it('logs a durable handler that throws, leaving no rejection unhandled', async () => {
    const journal = new OutboxJournal({
      dir: mkdtempSync(join(tmpdir(), 'idg-recorder-')),
      log: silentLogger,
    });
    journal.recover();
    journals.push(journal);
    const logLines: string[] = [];
    const unhandled: unknown[] = [];
    const collect = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', collect);
    try {
      const recorder = new EventRecorder({
        site: 'hq',
        gateway: 'gw-1',
        signingKey: keys.privateKey,
        journal,
        clock: new FakeClock(),
        alarms: new AlarmBook(() => undefined),
        log: createLogger({ level: 'warn', format: 'json', write: (line) => logLines.push(line) }),
        onDurable: () => {
          throw new Error('the link is gone');
        },
        onFailure: () => {},
      });
      recorder.record({ kind: 'access.granted', data: grant });
      await journal.flush();
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(unhandled).toEqual([]);
      expect(logLines.map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({ msg: 'handling a recorded event failed', kind: 'access.granted', seq: 1 }),
      ]);
    } finally {
      process.off('unhandledRejection', collect);
    }
  });
});
