import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exportEncryptionKey, generateEncryptionKeyPair } from '../../../src/protocol/ecies.js';
import {
  checkFootageHead,
  checkFootageRequest,
  dashboardTransferKey,
  type FootageWhat,
  gatewayTransferKey,
  isFootageChunk,
  openFootageChunk,
  sealFootageChunk,
  signFootageHead,
  signFootageRequest,
} from '../../../src/protocol/footage-transfer.js';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';

const central = generateSigningKeyPair();
const gatewayIdentity = generateSigningKeyPair();
const self = { site: 'berlin', gateway: 'gw-1' };
const what: FootageWhat = {
  kind: 'range',
  camera: 'cam-1',
  from: '2026-03-01T08:00:00.000Z',
  to: '2026-03-01T08:01:00.000Z',
};
const now = Date.parse('2026-03-01T09:00:00.000Z');
const id = '01900000-0000-7000-8000-000000000001';

function request(overrides: { key?: typeof central.privateKey; gateway?: string; at?: number } = {}) {
  const dashboard = generateEncryptionKeyPair();
  const signed = signFootageRequest(
    {
      id,
      site: 'berlin',
      gateway: overrides.gateway ?? 'gw-1',
      what,
      epk: exportEncryptionKey(dashboard.publicKey),
    },
    overrides.at ?? now,
    60_000,
    overrides.key ?? central.privateKey,
  );
  return { dashboard, signed, payload: Buffer.from(JSON.stringify(signed)) };
}

/** Both ends of one answer's encryption. */
function keys() {
  const { dashboard, signed } = request();
  const gateway = gatewayTransferKey(signed.epk, id, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  return { gateway, dashboard: dashboardTransferKey(dashboard, gateway.epk, id) };
}

describe('footage requests', () => {
  it('accepts a request signed with the central key, addressed to this gateway, in its validity window', () => {
    const checked = checkFootageRequest(request().payload, central.publicKey, self, now + 10_000);
    expect(checked).toMatchObject({ ok: true, request: { id, what } });
  });

  it('refuses a request signed with another key', () => {
    const checked = checkFootageRequest(
      request({ key: generateSigningKeyPair().privateKey }).payload,
      central.publicKey,
      self,
      now,
    );
    expect(checked).toMatchObject({ ok: false, reason: 'bad-signature', id });
  });

  it('refuses a request whose range was changed after signing', () => {
    const { signed } = request();
    const tampered = { ...signed, what: { ...what, from: '2026-02-01T08:00:00.000Z' } };
    const checked = checkFootageRequest(Buffer.from(JSON.stringify(tampered)), central.publicKey, self, now);
    expect(checked).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a request for another gateway, an expired one, and one without a signature', () => {
    expect(
      checkFootageRequest(request({ gateway: 'gw-2' }).payload, central.publicKey, self, now),
    ).toMatchObject({
      ok: false,
      reason: 'wrong-gateway',
    });
    expect(checkFootageRequest(request().payload, central.publicKey, self, now + 5 * 60_000)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    const { sig: _sig, ...unsigned } = request().signed;
    expect(
      checkFootageRequest(Buffer.from(JSON.stringify(unsigned)), central.publicKey, self, now),
    ).toMatchObject({
      ok: false,
      reason: 'bad-request',
    });
    expect(checkFootageRequest(Buffer.from('not json'), central.publicKey, self, now)).toMatchObject({
      ok: false,
      reason: 'bad-json',
    });
  });

  it('refuses a file id that could leave the footage folder', () => {
    const dashboard = generateEncryptionKeyPair();
    const signed = signFootageRequest(
      {
        id,
        site: 'berlin',
        gateway: 'gw-1',
        what: { kind: 'file', file: 'cam-1/../../etc/passwd' },
        epk: exportEncryptionKey(dashboard.publicKey),
      },
      now,
      60_000,
      central.privateKey,
    );
    expect(
      checkFootageRequest(Buffer.from(JSON.stringify(signed)), central.publicKey, self, now),
    ).toMatchObject({
      ok: false,
      reason: 'bad-request',
    });
  });
});

/** While the central signing key is rotated, a gateway trusts the old key and the new one. */
describe('footage requests during a rotation of the central key', () => {
  const next = generateSigningKeyPair();
  const trusted = [central.publicKey, next.publicKey] as const;

  it('accepts a request signed by the current key and one signed by the new key', () => {
    expect(checkFootageRequest(request().payload, trusted, self, now)).toMatchObject({ ok: true });
    expect(checkFootageRequest(request({ key: next.privateKey }).payload, trusted, self, now)).toMatchObject({
      ok: true,
      request: { id, what },
    });
  });

  it('refuses a request signed by a key it does not trust, as it does with one key', () => {
    const untrusted = request({ key: generateSigningKeyPair().privateKey }).payload;
    const refusal = { ok: false, reason: 'bad-signature', id };
    expect(checkFootageRequest(untrusted, trusted, self, now)).toMatchObject(refusal);
    expect(checkFootageRequest(untrusted, central.publicKey, self, now)).toMatchObject(refusal);
  });

  it('still refuses a request for another gateway signed by a trusted key', () => {
    const elsewhere = request({ key: next.privateKey, gateway: 'gw-2' }).payload;
    expect(checkFootageRequest(elsewhere, trusted, self, now)).toMatchObject({
      ok: false,
      reason: 'wrong-gateway',
    });
  });
});

describe('footage answers', () => {
  it('verifies a head signed by the gateway and refuses one signed by anyone else', () => {
    const head = signFootageHead(
      { request: id, site: 'berlin', gateway: 'gw-1', status: 'not-found', reason: 'none' },
      gatewayIdentity.privateKey,
    );
    expect(isFootageChunk(head)).toBe(false);
    expect(checkFootageHead(head, gatewayIdentity.publicKey)).toMatchObject({
      ok: true,
      head: { status: 'not-found' },
    });
    expect(checkFootageHead(head, generateSigningKeyPair().publicKey)).toMatchObject({ ok: false });
  });

  it('decrypts chunks with the key both ends derive, for any chunk index', () => {
    const { gateway, dashboard } = keys();
    for (const index of [0, 1, 7, 1000, 70_000]) {
      const plain = Buffer.from(`chunk ${index}`);
      const sealed = sealFootageChunk(gateway, index, plain, index === 70_000);
      expect(isFootageChunk(sealed)).toBe(true);
      expect(openFootageChunk(dashboard, sealed, index === 70_000 ? 70_001 : 80_000)).toEqual({
        index,
        plain,
      });
    }
  });

  it('refuses a chunk that was altered, moved, or not sealed as the last one', () => {
    const { gateway, dashboard } = keys();
    const sealed = sealFootageChunk(gateway, 2, Buffer.from('footage bytes'), false);
    const flipped = Buffer.from(sealed);
    flipped[8] = (flipped[8] as number) ^ 1;
    expect(() => openFootageChunk(dashboard, flipped, 5)).toThrow();
    const moved = Buffer.from(sealed);
    moved.writeUInt32BE(3, 1);
    expect(() => openFootageChunk(dashboard, moved, 5)).toThrow();
    expect(() => openFootageChunk(dashboard, sealed, 3)).toThrow(); // index 2 would be the last of 3
    expect(() => openFootageChunk(dashboard, sealed, 2)).toThrow(/beyond/);
  });

  it('refuses a chunk sealed for another request', () => {
    const { gateway } = keys();
    const other = keys();
    expect(() =>
      openFootageChunk(other.dashboard, sealFootageChunk(gateway, 0, Buffer.from('x'), true), 1),
    ).toThrow();
  });
});
