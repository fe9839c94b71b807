import type { KeyObject } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import { type Envelope, SCHEMA_VERSION, signEnvelope } from '../protocol/envelope.js';
import type { EventBody } from '../protocol/event-kinds.js';
import { Uuidv7Generator } from '../protocol/uuidv7.js';
import type { JournalRecord, OutboxJournal } from './outbox/outbox-journal.js';

/**
 * Turns what a controller emitted into a signed envelope: id and time fixed now, at the gateway;
 * the sequence number assigned by the journal, which survives restarts. The record goes to the
 * journal first and is handed on for publishing only once it is durable.
 */
export class EventRecorder {
  private readonly ids: Uuidv7Generator;

  constructor(
    private readonly site: string,
    private readonly gateway: string,
    private readonly signingKey: KeyObject,
    private readonly journal: OutboxJournal,
    private readonly clock: Clock,
    private readonly onDurable: (record: JournalRecord, envelope: Envelope) => void,
    private readonly onFailure: (error: Error, envelope: Envelope) => void,
  ) {
    this.ids = new Uuidv7Generator(() => clock.now());
  }

  record(body: EventBody): Envelope {
    const id = this.ids.next();
    const time = new Date(this.clock.now()).toISOString();
    let signed: Envelope | undefined;
    let payload = Buffer.alloc(0);
    const { seq, durable } = this.journal.append((seq) => {
      signed = signEnvelope(
        { v: SCHEMA_VERSION, id, site: this.site, gateway: this.gateway, seq, time, ...body },
        this.signingKey,
      );
      payload = Buffer.from(JSON.stringify(signed));
      return payload;
    });
    if (!signed) throw new Error('journal did not build the record');
    durable.then(
      () => this.onDurable({ seq, payload }, signed as Envelope),
      (error: Error) => this.onFailure(error, signed as Envelope),
    );
    return signed;
  }
}
