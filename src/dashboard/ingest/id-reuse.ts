import { canonicalJson } from '../../protocol/canonical.js';
import type { Envelope, Rejection } from '../../protocol/envelope.js';

/**
 * An event under an id and sequence number that are taken already: the same signed event again
 * (a redelivery, stored once) or other content, refused as `replayed-id`.
 */

/** The refusal of an event whose id is taken by another event: `replayed-id`. */
export function idReused(envelope: Envelope, how: string, payload: Buffer): Rejection & { payload: Buffer } {
  return {
    ok: false,
    reason: 'replayed-id',
    detail: `event id ${envelope.id} (sequence ${envelope.seq} of ${envelope.site}/${envelope.gateway}) ${how}`,
    payload,
  };
}

/** Whether two events under one id and number are the same signed event. */
export function sameEvent(a: Envelope, b: Envelope): boolean {
  return (
    a.sig === b.sig &&
    a.time === b.time &&
    a.kind === b.kind &&
    canonicalJson(a.data) === canonicalJson(b.data)
  );
}
