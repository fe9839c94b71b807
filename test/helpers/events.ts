import type { KeyObject } from 'node:crypto';
import { type Envelope, SCHEMA_VERSION, signEnvelope } from '../../src/protocol/envelope.js';
import { Uuidv7Generator } from '../../src/protocol/uuidv7.js';

const ids = new Uuidv7Generator();

/** An event as a gateway signs it: a fresh id, the current schema, now unless `time` is given. */
export function signedEvent(
  fields: { site: string; gateway: string; seq: number; kind: string; data: object; time?: string },
  key: KeyObject,
): Envelope {
  return signEnvelope(
    {
      v: SCHEMA_VERSION,
      id: ids.next(),
      time: fields.time ?? new Date().toISOString(),
      site: fields.site,
      gateway: fields.gateway,
      seq: fields.seq,
      kind: fields.kind,
      data: fields.data,
    } as Envelope,
    key,
  );
}
