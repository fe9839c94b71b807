import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../../../src/protocol/signing.js';
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

  it('puts workstations under their own topic and refuses ids that would break it', () => {
    expect(workstationCommandTopic('hq', 'ws-1.ident')).toBe(
      'identgate/v1/hq/workstations/ws-1.ident/commands',
    );
    expect(() => workstationCommandTopic('hq', 'ws/#')).toThrow(/invalid workstation id/);
  });
});
