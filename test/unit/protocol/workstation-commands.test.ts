import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/protocol/canonical.js';
import { generateSigningKeyPair, signBytes } from '../../../src/protocol/signing.js';
import {
  checkLockCommand,
  signLockCommand,
  workstationCommandTopic,
} from '../../../src/protocol/workstation-commands.js';

const central = generateSigningKeyPair();
const self = { site: 'hq', workstation: 'ws-1.ident' };
const now = Date.UTC(2026, 5, 1, 12);
const ID = '01900000-0000-7000-8000-000000000001';
const sign = (target = self, at = now, key = central.privateKey) =>
  Buffer.from(JSON.stringify(signLockCommand(target, { user: 'ada', reason: 'exit' }, ID, at, 60_000, key)));

describe('workstation lock commands', () => {
  it('accepts a command signed by central, addressed here, within its validity', () => {
    const checked = checkLockCommand(sign(), central.publicKey, self, now + 1000);
    expect(checked).toMatchObject({
      ok: true,
      command: { kind: 'session.lock', data: { user: 'ada', reason: 'exit' } },
      late: false,
    });
  });

  it('carries every reason a presence can end for, the evacuation and an erased user included', () => {
    const command = signLockCommand(
      self,
      { user: 'erased', reason: 'evacuation' },
      ID,
      now,
      60_000,
      central.privateKey,
    );
    expect(
      checkLockCommand(Buffer.from(JSON.stringify(command)), central.publicKey, self, now),
    ).toMatchObject({
      ok: true,
      command: { data: { user: 'erased', reason: 'evacuation' } },
    });
  });

  it('rejects another key, another workstation, an expired command and garbage, each with its reason', () => {
    const other = generateSigningKeyPair();
    expect(checkLockCommand(sign(self, now, other.privateKey), central.publicKey, self, now)).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
    expect(
      checkLockCommand(sign({ site: 'hq', workstation: 'ws-2' }), central.publicKey, self, now),
    ).toMatchObject({
      ok: false,
      reason: 'wrong-workstation',
    });
    expect(checkLockCommand(sign(), central.publicKey, self, now + 10 * 60_000)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    expect(checkLockCommand(Buffer.from('{'), central.publicKey, self, now)).toMatchObject({
      ok: false,
      reason: 'bad-command',
    });
  });

  describe('late: an expired command is accepted within lateMs of its issue, by this clock', () => {
    const HOUR = 3_600_000;
    const late = { lateMs: 8 * HOUR };

    it('accepts an expired command issued within lateMs, marked late', () => {
      expect(checkLockCommand(sign(), central.publicKey, self, now + 2 * HOUR, late)).toMatchObject({
        ok: true,
        late: true,
        command: { id: ID, data: { user: 'ada' } },
      });
    });

    it('accepts one issued exactly lateMs ago and refuses one a millisecond older as expired', () => {
      expect(checkLockCommand(sign(), central.publicKey, self, now + 8 * HOUR, late)).toMatchObject({
        ok: true,
        late: true,
      });
      expect(checkLockCommand(sign(), central.publicKey, self, now + 8 * HOUR + 1, late)).toMatchObject({
        ok: false,
        reason: 'expired',
      });
    });

    it('marks a command within its validity as not late', () => {
      expect(checkLockCommand(sign(), central.publicKey, self, now + 1000, late)).toMatchObject({
        ok: true,
        late: false,
      });
    });

    it('accepts no late command without the option or with lateMs 0', () => {
      const expired = { ok: false, reason: 'expired' };
      expect(checkLockCommand(sign(), central.publicKey, self, now + 10 * 60_000)).toMatchObject(expired);
      expect(
        checkLockCommand(sign(), central.publicKey, self, now + 10 * 60_000, { lateMs: 0 }),
      ).toMatchObject(expired);
    });

    it('still rejects another key and another workstation when the command is late', () => {
      const other = generateSigningKeyPair();
      const at = now + 2 * HOUR;
      expect(
        checkLockCommand(sign(self, now, other.privateKey), central.publicKey, self, at, late),
      ).toMatchObject({
        ok: false,
        reason: 'bad-signature',
      });
      expect(
        checkLockCommand(sign({ site: 'hq', workstation: 'ws-2' }), central.publicKey, self, at, late),
      ).toMatchObject({ ok: false, reason: 'wrong-workstation' });
    });

    it('still rejects a command not yet valid', () => {
      expect(checkLockCommand(sign(self, now + HOUR), central.publicKey, self, now, late)).toMatchObject({
        ok: false,
        reason: 'not-yet-valid',
      });
    });

    it('still rejects a signed command whose validity is longer than any command may have', () => {
      const unsigned = {
        v: 1,
        id: ID,
        kind: 'session.lock',
        ...self,
        issuedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 6 * 60_000).toISOString(),
        nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
        data: { user: 'ada', reason: 'exit' },
      };
      const command = {
        ...unsigned,
        sig: signBytes(central.privateKey, Buffer.from(canonicalJson(unsigned))),
      };
      const payload = Buffer.from(JSON.stringify(command));
      for (const at of [now + 1000, now + 2 * HOUR])
        expect(checkLockCommand(payload, central.publicKey, self, at, late)).toMatchObject({
          ok: false,
          reason: 'bad-command',
          detail: expect.stringContaining('not plausible'),
        });
    });
  });

  /** While the central signing key is rotated, the agent trusts the old key and the new one. */
  describe('during a rotation of the central key', () => {
    const next = generateSigningKeyPair();
    const trusted = [central.publicKey, next.publicKey] as const;

    it('accepts a command signed by the current key and one signed by the new key', () => {
      expect(checkLockCommand(sign(), trusted, self, now)).toMatchObject({ ok: true, late: false });
      expect(checkLockCommand(sign(self, now, next.privateKey), trusted, self, now)).toMatchObject({
        ok: true,
        command: { id: ID, data: { user: 'ada' } },
      });
    });

    it('accepts a late command signed by the new key', () => {
      const late = { lateMs: 8 * 3_600_000 };
      const at = now + 3_600_000;
      expect(checkLockCommand(sign(self, now, next.privateKey), trusted, self, at, late)).toMatchObject({
        ok: true,
        late: true,
      });
    });

    it('rejects a command signed by a key it does not trust, as it does with one key', () => {
      const untrusted = sign(self, now, generateSigningKeyPair().privateKey);
      const refusal = { ok: false, reason: 'bad-signature', id: ID };
      expect(checkLockCommand(untrusted, trusted, self, now)).toMatchObject(refusal);
      expect(checkLockCommand(untrusted, central.publicKey, self, now)).toMatchObject(refusal);
    });
  });

  it('puts workstations under their own topic and refuses ids that would break it', () => {
    expect(workstationCommandTopic('hq', 'ws-1.ident')).toBe(
      'identgate/v1/hq/workstations/ws-1.ident/commands',
    );
    expect(() => workstationCommandTopic('hq', 'ws/#')).toThrow(/invalid workstation id/);
  });
});
