import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchPayload,
  batchSignatureInput,
  batchSigningBytes,
  checkEnvelope,
  decodeEnvelope,
  decodePayload,
  type Envelope,
  type EventBatch,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  MAX_ENVELOPE_BYTES,
  SCHEMA_VERSION,
  signBatch,
  signEnvelope,
  verifySignature,
} from '../../../src/protocol/envelope.js';
import { generateSigningKeyPair, verifyRawSignature } from '../../../src/protocol/signing.js';
import { Uuidv7Generator } from '../../../src/protocol/uuidv7.js';

const gatewayKey = generateSigningKeyPair();
const otherKey = generateSigningKeyPair();
const ids = new Uuidv7Generator();
const keyFor = (site: string, gateway: string) =>
  site === 'berlin' && gateway === 'gw-1' ? gatewayKey.publicKey : undefined;

function granted(seq = 1): Envelope {
  return signEnvelope(
    {
      v: SCHEMA_VERSION,
      id: ids.next(),
      site: 'berlin',
      gateway: 'gw-1',
      seq,
      time: '2026-11-26T08:00:00.000Z',
      kind: 'access.granted',
      data: {
        door: 'main',
        direction: 'in',
        person: 'p-1',
        badge: '0004711',
        factors: ['badge', 'totp'],
        unlockMs: 5000,
      },
    },
    gatewayKey.privateKey,
  );
}

function roundTrip(value: unknown) {
  return decodeEnvelope(Buffer.from(JSON.stringify(value)));
}

describe('event envelope', () => {
  it('accepts a signed event and verifies it with the gateway key', () => {
    const decoded = roundTrip(granted());
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(verifySignature(decoded.value, keyFor)).toMatchObject({ ok: true });
  });

  it('rejects a forged signature', () => {
    const envelope = signEnvelope(
      { ...granted(), sig: undefined } as unknown as Envelope,
      otherKey.privateKey,
    );
    const decoded = roundTrip(envelope);
    if (!decoded.ok) throw new Error('should decode');
    expect(verifySignature(decoded.value, keyFor)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects an event whose data was changed after signing', () => {
    const envelope = granted();
    const tampered = { ...envelope, data: { ...envelope.data, person: 'p-2' } };
    const decoded = roundTrip(tampered);
    if (!decoded.ok) throw new Error('should decode');
    expect(verifySignature(decoded.value, keyFor)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('rejects an event from a gateway without a registered key', () => {
    const decoded = roundTrip({ ...granted(), gateway: 'gw-9' });
    if (!decoded.ok) throw new Error('should decode');
    expect(verifySignature(decoded.value, keyFor)).toMatchObject({ ok: false, reason: 'unknown-gateway' });
  });

  it('rejects an unknown kind', () => {
    expect(roundTrip({ ...granted(), kind: 'door.teleported' })).toMatchObject({
      ok: false,
      reason: 'unknown-kind',
      detail: expect.stringContaining('door.teleported'),
    });
  });

  it('rejects data of the wrong shape and names the field', () => {
    const envelope = granted();
    const result = roundTrip({ ...envelope, data: { ...envelope.data, unlockMs: 'five seconds' } });
    expect(result).toMatchObject({
      ok: false,
      reason: 'bad-data',
      detail: expect.stringContaining('/data/unlockMs'),
    });
  });

  it('rejects a denial whose reason is not one of the typed reasons', () => {
    const envelope = {
      ...granted(),
      kind: 'access.denied',
      data: { door: 'main', direction: 'in', badge: 'b', reason: 'bad-luck' },
    };
    expect(roundTrip(envelope)).toMatchObject({
      ok: false,
      reason: 'bad-data',
      detail: expect.stringContaining('/data/reason'),
    });
  });

  it('rejects an envelope of the wrong shape', () => {
    expect(roundTrip({ hello: 'world' })).toMatchObject({ ok: false, reason: 'bad-envelope' });
    expect(roundTrip([1, 2, 3])).toMatchObject({ ok: false, reason: 'bad-envelope' });
    expect(roundTrip({ ...granted(), extra: true })).toMatchObject({ ok: false, reason: 'bad-envelope' });
    expect(roundTrip({ ...granted(), seq: -1 })).toMatchObject({ ok: false, reason: 'bad-envelope' });
    expect(roundTrip({ ...granted(), time: '2026-13-45T99:00:00.000Z' })).toMatchObject({
      ok: false,
      reason: 'bad-envelope',
    });
  });

  it.each([
    ['30 February', '2026-02-30T10:00:00.000Z'],
    ['29 February of a common year', '2025-02-29T10:00:00.000Z'],
    ['24:00', '2031-05-01T24:00:00.000Z'],
    ['year 0', '0000-06-01T10:00:00.000Z'],
    ['before 1970', '1969-12-31T23:59:59.999Z'],
  ])('rejects a time that names no instant exactly: %s', (_name, time) => {
    expect(roundTrip({ ...granted(), time })).toMatchObject({ ok: false, reason: 'bad-envelope' });
  });

  it('accepts 29 February of a leap year and the last millisecond of a day', () => {
    expect(roundTrip({ ...granted(), time: '2028-02-29T23:59:59.999Z' })).toMatchObject({ ok: true });
  });

  it('rejects a newer schema version with a clear reason', () => {
    expect(roundTrip({ ...granted(), v: 2 })).toMatchObject({ ok: false, reason: 'unsupported-version' });
  });

  it('rejects payloads that are not JSON, not UTF-8, too large or carry NUL', () => {
    expect(decodeEnvelope(Buffer.from('{not json'))).toMatchObject({ ok: false, reason: 'bad-json' });
    expect(decodeEnvelope(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toMatchObject({
      ok: false,
      reason: 'bad-json',
    });
    expect(decodeEnvelope(Buffer.alloc(MAX_ENVELOPE_BYTES + 1, 0x20))).toMatchObject({
      ok: false,
      reason: 'too-large',
    });
    const withNul = JSON.stringify({
      ...granted(),
      kind: 'access.denied',
      data: { door: 'main', direction: 'in', badge: 'b', reason: 'wrong-code', detail: 'a\u0000b' },
    });
    expect(decodeEnvelope(withNul)).toMatchObject({ ok: false, reason: 'bad-data' });
  });

  it.each([
    ['a lone high surrogate', '"x\\ud800y"', false],
    ['a lone low surrogate', '"x\\udc00y"', false],
    ['a surrogate pair', '"x\\ud83d\\ude00y"', true],
    ['the text \\u0000, escaped', '"C:\\\\u0000dir"', true],
  ])('tells storable text from what PostgreSQL refuses: %s', (_name, detail, storable) => {
    const data = `{"door":"main","direction":"in","badge":"b","reason":"wrong-code","detail":${detail}}`;
    const text = JSON.stringify({ ...granted(), kind: 'access.denied', data: {} }).replace(
      '"data":{}',
      `"data":${data}`,
    );
    expect(decodeEnvelope(text).ok, text).toBe(storable);
  });

  it('signs the canonical encoding, so key order on the wire does not matter', () => {
    const envelope = granted();
    const reordered = Object.fromEntries(Object.entries(envelope).reverse());
    const decoded = roundTrip(reordered);
    if (!decoded.ok) throw new Error('should decode');
    expect(verifySignature(decoded.value, keyFor).ok).toBe(true);
  });
});

describe('event batch', () => {
  function decodeBatch(value: unknown): EventBatch {
    const decoded = decodePayload(Buffer.from(JSON.stringify(value)));
    if (!decoded.ok || decoded.value.form !== 'batch')
      throw new Error(`not a batch: ${JSON.stringify(decoded)}`);
    return decoded.value.batch;
  }

  function verifies(batch: EventBatch): boolean {
    const input = batchSignatureInput(batch, keyFor);
    if (!input.ok) throw new Error(input.detail);
    return verifyRawSignature(input.key, input.bytes, input.signature);
  }

  it('carries several signed events under one signature of the gateway', () => {
    const events = [granted(1), granted(2), granted(3)];
    const batch = decodeBatch(signBatch('berlin', 'gw-1', events, gatewayKey.privateKey));
    expect(verifies(batch)).toBe(true);
    expect(batch.events.map((e) => checkEnvelope(e))).toEqual(events.map((value) => ({ ok: true, value })));
  });

  it('tells a single event from a batch', () => {
    const single = decodePayload(Buffer.from(JSON.stringify(granted())));
    expect(single).toMatchObject({ ok: true, value: { form: 'event' } });
  });

  it('does not verify when an event, the order, or the signer changes', () => {
    const events = [granted(1), granted(2)];
    const batch = signBatch('berlin', 'gw-1', events, gatewayKey.privateKey);
    const changed = structuredClone(batch);
    (changed.events[1] as Envelope).seq = 7;
    expect(verifies(decodeBatch(changed))).toBe(false);
    expect(verifies(decodeBatch({ ...batch, events: [...batch.events].reverse() }))).toBe(false);
    expect(verifies(decodeBatch({ ...batch, events: batch.events.slice(1) }))).toBe(false);
    expect(verifies(decodeBatch(signBatch('berlin', 'gw-1', events, otherKey.privateKey)))).toBe(false);
    // Whose batch it says it is decides the key: another gateway has none here.
    expect(batchSignatureInput({ ...batch, gateway: 'gw-2' }, keyFor)).toMatchObject({
      ok: false,
      reason: 'unknown-gateway',
    });
  });

  it('signs the canonical encoding, so key order on the wire does not matter', () => {
    const batch = signBatch('berlin', 'gw-1', [granted(1), granted(2)], gatewayKey.privateKey);
    const reorder = (value: object) => Object.fromEntries(Object.entries(value).reverse());
    const reordered = reorder({ ...batch, events: batch.events.map((e) => reorder(e as object)) });
    expect(verifies(decodeBatch(reordered))).toBe(true);
  });

  it.each([
    ['no events', (b: EventBatch) => ({ ...b, events: [] })],
    [
      'too many events',
      (b: EventBatch) => ({ ...b, events: new Array(MAX_BATCH_EVENTS + 1).fill(b.events[0]) }),
    ],
    ['an unknown field', (b: EventBatch) => ({ ...b, extra: 1 })],
    ['no signature', (b: EventBatch) => ({ ...b, sig: undefined })],
    ['events that are not a list', (b: EventBatch) => ({ ...b, events: { 0: b.events[0] } })],
    ['a bad site', (b: EventBatch) => ({ ...b, site: '../x' })],
  ])('refuses a batch with %s as a bad envelope', (_name, change) => {
    const batch = signBatch('berlin', 'gw-1', [granted(1)], gatewayKey.privateKey);
    expect(decodePayload(Buffer.from(JSON.stringify(change(batch))))).toMatchObject({
      ok: false,
      reason: 'bad-envelope',
    });
  });

  it('refuses a newer batch version, and payloads beyond the size limits', () => {
    const batch = signBatch('berlin', 'gw-1', [granted(1)], gatewayKey.privateKey);
    expect(decodePayload(JSON.stringify({ ...batch, v: 2 }))).toMatchObject({
      ok: false,
      reason: 'unsupported-version',
    });
    expect(decodePayload(Buffer.alloc(MAX_BATCH_BYTES + 1, 0x20))).toMatchObject({
      ok: false,
      reason: 'too-large',
    });
    // A single event keeps its own, smaller limit.
    const big = JSON.stringify({ ...granted(), pad: ' '.repeat(MAX_ENVELOPE_BYTES) });
    expect(decodePayload(big)).toMatchObject({ ok: false, reason: 'too-large' });
  });

  describe('as a gateway sends it', () => {
    function decodeWire(payload: Uint8Array): EventBatch | undefined {
      const decoded = decodePayload(payload);
      return decoded.ok && decoded.value.form === 'batch' ? decoded.value.batch : undefined;
    }

    /** The check the ingest makes: the bytes as sent, and the canonical JSON if those fail. */
    function ingestVerifies(batch: EventBatch, payload: Uint8Array): { asSent: boolean; canonical: boolean } {
      const input = batchSignatureInput(batch, keyFor, payload);
      if (!input.ok) return { asSent: false, canonical: false };
      return {
        asSent: input.asSent === true && verifyRawSignature(input.key, input.bytes, input.signature),
        canonical: verifyRawSignature(input.key, batchSigningBytes(batch), input.signature),
      };
    }

    it('carries the signed bytes themselves, so the central side verifies them as they arrived', () => {
      const events = [granted(1), granted(2)];
      const payload = batchPayload('berlin', 'gw-1', events, gatewayKey.privateKey);
      const batch = decodeWire(payload) as EventBatch;
      expect(batch).toEqual(signBatch('berlin', 'gw-1', events, gatewayKey.privateKey));
      const input = batchSignatureInput(batch, keyFor, payload);
      expect(input).toMatchObject({ ok: true, asSent: true });
      expect((input as { bytes: Buffer }).bytes.equals(batchSigningBytes(batch))).toBe(true);
      expect(ingestVerifies(batch, payload)).toEqual({ asSent: true, canonical: true });
      // Also when the payload arrives as text.
      expect(batchSignatureInput(batch, keyFor, payload.toString('utf8'))).toMatchObject({ asSent: true });
    });

    it('verifies a batch in any other layout over its canonical JSON', () => {
      const batch = signBatch('berlin', 'gw-1', [granted(1), granted(2)], gatewayKey.privateKey);
      const sigFirst = JSON.stringify(Object.fromEntries(Object.entries(batch).reverse()));
      // JSON.stringify puts sig last too, but the rest is not canonical: the bytes as sent fail.
      for (const text of [JSON.stringify(batch), sigFirst, `${JSON.stringify(batch).slice(0, -1)} }`]) {
        const payload = Buffer.from(text);
        const decoded = decodeWire(payload) as EventBatch;
        expect(ingestVerifies(decoded, payload)).toEqual({ asSent: false, canonical: true });
      }
    });

    it('does not verify bytes as sent that were changed, and the canonical JSON refuses them too', () => {
      const payload = batchPayload('berlin', 'gw-1', [granted(1), granted(2)], gatewayKey.privateKey);
      const text = payload.toString('utf8');
      const changed = [
        text.replace('"seq":2', '"seq":3'),
        text.replace('"door":"main"', '"door":"back"'),
        // The signature moved into the last event and a second one made up at the end.
        text.replace(/\}\],"gateway"/, `,"sig":"${'A'.repeat(86)}"}],"gateway"`),
      ];
      for (const hostile of changed) {
        const wire = Buffer.from(hostile);
        const batch = decodeWire(wire);
        if (!batch) continue;
        expect(ingestVerifies(batch, wire)).toEqual({ asSent: false, canonical: false });
      }
    });

    it('never accepts bytes as sent that mean something else than what the canonical check accepts', () => {
      const base = batchPayload('berlin', 'gw-1', [granted(1), granted(2)], gatewayKey.privateKey).toString(
        'utf8',
      );
      const edit = fc.oneof(
        fc.record({ at: fc.nat(), text: fc.constantFrom(' ', ',', '}', '"', '\\', '"sig":', 'x', '{}') }),
        fc.record({ at: fc.nat(), cut: fc.integer({ min: 1, max: 12 }) }),
      );
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
          let text = base;
          for (const e of edits) {
            const at = e.at % (text.length + 1);
            text =
              'text' in e
                ? text.slice(0, at) + e.text + text.slice(at)
                : text.slice(0, at) + text.slice(at + e.cut);
          }
          const wire = Buffer.from(text);
          const batch = decodeWire(wire);
          if (!batch) return;
          const { asSent, canonical } = ingestVerifies(batch, wire);
          // Bytes as sent only ever verify when the canonical JSON of what was parsed does too.
          if (asSent) expect(canonical).toBe(true);
        }),
        { numRuns: 400 },
      );
    });

    it('keeps hostile strings exactly: the bytes cut from the payload are the canonical JSON', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'grapheme', maxLength: 40 }),
          fc.string({ maxLength: 20 }),
          (person, badge) => {
            const event = signEnvelope(
              {
                ...granted(1),
                data: { door: 'main', direction: 'in', person, badge, factors: ['badge'], unlockMs: 1 },
              },
              gatewayKey.privateKey,
            );
            const payload = batchPayload('berlin', 'gw-1', [event, granted(2)], gatewayKey.privateKey);
            const batch = decodeWire(payload) as EventBatch;
            const input = batchSignatureInput(batch, keyFor, payload);
            expect(input).toMatchObject({ ok: true, asSent: true });
            expect((input as { bytes: Buffer }).bytes.equals(batchSigningBytes(batch))).toBe(true);
          },
        ),
        { numRuns: 200 },
      );
    });
  });

  it('checks each event of a batch on its own', () => {
    const good = granted(1);
    const checks = [good, { ...granted(2), data: { door: 42 } }, { ...granted(3), kind: 'x.y' }, 'text'].map(
      (e) => checkEnvelope(e),
    );
    expect(checks.map((c) => (c.ok ? 'ok' : c.reason))).toEqual([
      'ok',
      'bad-data',
      'unknown-kind',
      'bad-envelope',
    ]);
  });
});
