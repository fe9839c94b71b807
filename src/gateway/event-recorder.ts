import type { KeyObject } from 'node:crypto';
import type { AlarmBook, AlarmRaise } from '../controllers/alarm-book.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { checkEventData, type Envelope, SCHEMA_VERSION, signEnvelope } from '../protocol/envelope.js';
import { type EventBody, isEventKind } from '../protocol/event-kinds.js';
import { Uuidv7Generator } from '../protocol/uuidv7.js';
import type { JournalRecord, OutboxJournal } from './outbox/outbox-journal.js';

export interface EventRecorderOptions {
  site: string;
  gateway: string;
  signingKey: KeyObject;
  journal: OutboxJournal;
  clock: Clock;
  /** Where an event its kind's schema refuses is reported: one alarm per kind, `event-schema:<kind>`. */
  alarms: Pick<AlarmBook, 'raise'>;
  log: Logger;
  onDurable: (record: JournalRecord, envelope: Envelope) => void;
  onFailure: (error: Error, envelope: Envelope) => void;
}

/**
 * Turns what a controller emitted into a signed envelope: id and time fixed now, at the gateway;
 * the sequence number assigned by the journal, which survives restarts. The record goes to the
 * journal first and is handed on for publishing only once it is durable.
 *
 * The data is checked against its kind's schema, as the central side checks it. An event that
 * fails is a defect in this software, and still evidence: it is recorded as it is (the central
 * side quarantines it with its payload), and an alarm here says so.
 */
export class EventRecorder {
  private readonly ids: Uuidv7Generator;

  constructor(private readonly options: EventRecorderOptions) {
    this.ids = new Uuidv7Generator(() => options.clock.now());
  }

  record(body: EventBody): Envelope {
    const { site, gateway, signingKey, journal, clock } = this.options;
    const problem = dataProblem(body);
    const id = this.ids.next();
    const time = new Date(clock.now()).toISOString();
    let signed: Envelope | undefined;
    let payload = Buffer.alloc(0);
    const { seq, durable } = journal.append((seq) => {
      signed = signEnvelope({ v: SCHEMA_VERSION, id, site, gateway, seq, time, ...body }, signingKey);
      payload = Buffer.from(JSON.stringify(signed));
      return payload;
    });
    if (!signed) throw new Error('journal did not build the record');
    durable
      .then(
        () => this.options.onDurable({ seq, payload }, signed as Envelope),
        (error: Error) => this.options.onFailure(error, signed as Envelope),
      )
      // Nobody awaits this chain: a handler that throws is logged, never an unhandled rejection.
      .catch((error: Error) =>
        this.options.log.error({ err: error, kind: body.kind, seq }, 'handling a recorded event failed'),
      );
    if (problem) this.schemaMismatch(signed, problem);
    return signed;
  }

  /**
   * After the event is in the journal, so the alarm follows it. The alarm is an event recorded
   * here too: should it fail its own check, the alarm about that (`event-schema:alarm.raised`) is
   * raised once, and should that one fail as well, its key is active already and it ends there.
   */
  private schemaMismatch(envelope: Envelope, problem: string): void {
    const { kind, id, seq } = envelope;
    this.options.log.warn(
      { kind, id, seq, problem },
      'event does not match its schema: recorded as it is; the central side will quarantine it',
    );
    this.options.alarms.raise(schemaMismatchAlarm(envelope, problem));
  }
}

/** What the central side will refuse the event for, if anything. */
function dataProblem(body: EventBody): string | undefined {
  // Only a cast gets an unknown kind here; it is evidence all the same, so it must not throw.
  if (!isEventKind(body.kind)) return `kind ${JSON.stringify(body.kind)} is not known`;
  const checked = checkEventData(body.kind, body.data);
  return checked.ok ? undefined : checked.detail;
}

/**
 * One alarm per kind while the gateway runs: a software defect, not an attack, so a warning. It
 * says what the schema refused (`problem`, which names the kind) and where it began, never the
 * event's data.
 */
function schemaMismatchAlarm(envelope: Envelope, problem: string): AlarmRaise {
  const why = ` (first at seq ${envelope.seq}: sent as emitted, quarantined centrally)`;
  return {
    alarm: 'internal-error',
    key: `event-schema:${envelope.kind}`,
    severity: 'warning',
    detail: `${problem.slice(0, 500 - why.length)}${why}`,
  };
}
