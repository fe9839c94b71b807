import { describe, expect, it } from 'vitest';
import { connackVerdict, readGrant, reasonName } from '../../../../src/dashboard/ingest/mqtt-reason-codes.js';

describe('MQTT reason codes', () => {
  it('accepts a CONNACK with code 0 in either version', () => {
    expect(connackVerdict(0, 5)).toEqual({ kind: 'accepted' });
    expect(connackVerdict(0, 4)).toEqual({ kind: 'accepted' });
  });

  it('reads MQTT 5 "unsupported protocol version" as a version refusal', () => {
    expect(connackVerdict(0x84, 5)).toMatchObject({ kind: 'unsupported-version' });
  });

  it('reads a 3.1.1 answer to an MQTT 5 CONNECT (return code 1) as a version refusal', () => {
    expect(connackVerdict(1, 5)).toEqual({
      kind: 'unsupported-version',
      description: 'unacceptable protocol version (0x01)',
    });
  });

  it('reads other failures as refusals that name the reason', () => {
    expect(connackVerdict(0x86, 5)).toEqual({
      kind: 'refused',
      code: 0x86,
      description: 'bad user name or password (0x86)',
    });
    expect(connackVerdict(5, 4)).toMatchObject({ kind: 'refused', description: 'not authorized (0x05)' });
  });

  it('tells granted SUBACK codes from failures', () => {
    expect(readGrant(1)).toEqual({ ok: true, qos: 1 });
    expect(readGrant(0x80)).toEqual({ ok: false, code: 0x80 });
    expect(readGrant(0x9e)).toEqual({ ok: false, code: 0x9e });
    expect(reasonName(0x9e, 5)).toBe('shared subscriptions not supported (0x9e)');
    expect(reasonName(0x80, 4)).toBe('failure (0x80)');
  });
});
