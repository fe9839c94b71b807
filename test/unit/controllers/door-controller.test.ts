import { describe, expect, it } from 'vitest';
import { credential, doorHarness } from '../../helpers/door-harness.js';

describe('door controller: badge then TOTP code', () => {
  it('asks for the code after a valid badge and does nothing else', () => {
    const t = doorHarness();
    expect(t.door.badge('B-ADA')).toEqual({ door: 'main', outcome: 'awaiting-code', timeoutMs: 20_000 });
    expect(t.events).toEqual([]);
    expect(t.relay).toEqual([]);
  });

  it('unlocks for the unlock time after the correct code and relocks afterwards', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    expect(t.door.code(t.code())).toEqual({
      door: 'main',
      outcome: 'granted',
      unlockMs: 5000,
      person: 'ada',
    });
    expect(t.relay).toEqual(['unlock']);
    expect(t.kinds()).toEqual(['access.granted', 'door.unlocked']);
    expect(t.events[0]).toMatchObject({
      data: { door: 'main', direction: 'in', person: 'ada', badge: 'B-ADA', factors: ['badge', 'totp'] },
    });
    t.clock.advance(4999);
    expect(t.relay).toEqual(['unlock']);
    t.clock.advance(1);
    expect(t.relay).toEqual(['unlock', 'lock']);
    expect(t.kinds()).toEqual(['access.granted', 'door.unlocked', 'door.locked']);
  });

  it('relocks as soon as the door closes again after a grant', () => {
    const t = doorHarness();
    t.enter();
    t.clock.advance(1000);
    t.door.contact(true);
    t.clock.advance(1000);
    t.door.contact(false);
    expect(t.relay).toEqual(['unlock', 'lock']);
    expect(t.kinds()).toEqual([
      'access.granted',
      'door.unlocked',
      'door.opened',
      'door.closed',
      'door.locked',
    ]);
    expect(t.events[2]).toMatchObject({ data: { authorised: true } });
    t.clock.advance(10_000);
    expect(t.relay).toEqual(['unlock', 'lock']);
  });

  it('denies a wrong code and keeps the door locked', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    expect(t.door.code(t.wrongCode())).toEqual({ door: 'main', outcome: 'denied', reason: 'wrong-code' });
    expect(t.relay).toEqual([]);
    expect(t.events).toEqual([
      {
        kind: 'access.denied',
        data: { door: 'main', direction: 'in', badge: 'B-ADA', person: 'ada', reason: 'wrong-code' },
      },
    ]);
  });

  it('denies a TOTP code reused within the same time step', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    const code = t.code();
    t.door.code(code);
    t.clock.advance(6000);
    t.door.badge('B-ADA');
    expect(t.door.code(code)).toMatchObject({ outcome: 'denied', reason: 'code-reused' });
  });

  it('denies with code-timeout when no code comes in time', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    t.clock.advance(19_999);
    expect(t.events).toEqual([]);
    t.clock.advance(1);
    expect(t.feedback.at(-1)).toEqual({ door: 'main', outcome: 'denied', reason: 'code-timeout' });
    expect(t.denials()).toEqual(['code-timeout']);
    expect(t.door.code(t.code())).toMatchObject({ outcome: 'ignored' });
  });

  it('denies unknown, revoked, expired and not-yet-valid badges without asking for a code', () => {
    const now = Date.UTC(2026, 0, 7, 8, 0, 10);
    const t = doorHarness({
      credentials: [
        credential({ badge: 'B-REV', person: 'rev', status: 'revoked' }),
        // As the central side sends a revoked badge now: no name, no secret.
        { badge: 'B-GONE', person: 'gone', status: 'revoked' },
        credential({ badge: 'B-OLD', person: 'old', validUntil: now - 1 }),
        credential({ badge: 'B-NEW', person: 'new', validFrom: now + 60_000 }),
      ],
    });
    expect(t.door.badge('B-NOBODY')).toMatchObject({ outcome: 'denied', reason: 'unknown-badge' });
    expect(t.door.badge('B-REV')).toMatchObject({ outcome: 'denied', reason: 'badge-revoked' });
    expect(t.door.badge('B-GONE')).toMatchObject({ outcome: 'denied', reason: 'badge-revoked' });
    expect(t.door.badge('B-OLD')).toMatchObject({ outcome: 'denied', reason: 'badge-expired' });
    expect(t.door.badge('B-NEW')).toMatchObject({ outcome: 'denied', reason: 'badge-expired' });
    expect(t.denials()).toEqual([
      'unknown-badge',
      'badge-revoked',
      'badge-revoked',
      'badge-expired',
      'badge-expired',
    ]);
    expect(t.door.code('123456')).toMatchObject({ outcome: 'ignored', why: 'no badge presented' });
  });

  it('replaces an entry awaiting its code when another badge comes, denying it with code-timeout', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    t.door.badge('B-BEN');
    expect(t.door.code(t.code('B-BEN'))).toMatchObject({ outcome: 'granted', person: 'ben' });
    t.clock.advance(60_000);
    expect(t.decisions().map((e) => [e.kind, (e.data as { badge: string }).badge])).toEqual([
      ['access.denied', 'B-ADA'],
      ['access.granted', 'B-BEN'],
    ]);
    expect(t.denials()).toEqual(['code-timeout']);
  });

  it('decides an entry awaiting its code that an exit badge cuts short, and tells the door about the exit', () => {
    const t = doorHarness();
    t.door.badge('B-ADA', 'in');
    expect(t.door.badge('B-BEN', 'out')).toMatchObject({ outcome: 'granted', person: 'ben' });
    expect(t.decisions().map((e) => e.data)).toEqual([
      { door: 'main', direction: 'in', badge: 'B-ADA', person: 'ada', reason: 'code-timeout' },
      expect.objectContaining({ direction: 'out', badge: 'B-BEN', person: 'ben' }),
    ]);
    // The door shows the exit's outcome, not the displaced entry's.
    expect(t.feedback.map((f) => f.outcome)).toEqual(['awaiting-code', 'granted']);
  });

  it('takes a second read of the card awaiting its code as the same attempt', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    t.clock.advance(1000);
    t.door.badge('B-ADA');
    expect(t.events).toEqual([]);
    expect(t.keypad.cleared).toBe(1); // the digits Ada began typing stay
    expect(t.door.code(t.code())).toMatchObject({ outcome: 'granted', person: 'ada' });
  });

  it('voids digits typed on the keypad before a badge, at either reader', () => {
    const t = doorHarness();
    t.door.badge('B-ADA', 'in');
    expect(t.keypad.cleared).toBe(1);
    t.door.badge('B-BEN', 'out');
    expect(t.keypad.cleared).toBe(2);
    t.door.badge('B-NOBODY', 'in');
    expect(t.keypad.cleared).toBe(3);
  });
});

describe('door controller: door contact', () => {
  it('raises door-forced, with an alarm, when the door opens without a grant, and clears it on close', () => {
    const t = doorHarness();
    expect(t.door.contact(true)).toEqual({ door: 'main', outcome: 'door', state: 'forced' });
    expect(t.kinds()).toEqual(['door.opened', 'door.forced', 'alarm.raised']);
    expect(t.events[0]).toMatchObject({ data: { authorised: false } });
    expect(t.events[2]).toMatchObject({
      data: { alarm: 'door-forced', key: 'door-forced:main', severity: 'critical' },
    });
    t.door.contact(false);
    expect(t.events.at(-1)).toMatchObject({
      kind: 'alarm.cleared',
      data: { alarm: 'door-forced', key: 'door-forced:main' },
    });
  });

  it('raises held-open once after the held-open time and clears it when the door closes', () => {
    const t = doorHarness();
    t.enter();
    t.door.contact(true);
    t.clock.advance(30_000);
    expect(t.alarms()).toEqual(['door-held-open']);
    t.clock.advance(30_000);
    expect(t.kinds().filter((k) => k === 'door.held-open')).toHaveLength(1);
    t.door.contact(false);
    expect(t.events.find((e) => e.kind === 'door.closed')).toEqual({
      kind: 'door.closed',
      data: { door: 'main', openMs: 60_000 },
    });
    expect(t.events.at(-1)).toMatchObject({ kind: 'alarm.cleared', data: { alarm: 'door-held-open' } });
  });

  it('does not raise held-open when the door closes in time', () => {
    const t = doorHarness();
    t.enter();
    t.door.contact(true);
    t.clock.advance(29_999);
    t.door.contact(false);
    t.clock.advance(60_000);
    expect(t.kinds()).not.toContain('door.held-open');
  });

  it('ignores a contact report that does not change anything', () => {
    const t = doorHarness();
    expect(t.door.contact(false)).toMatchObject({ outcome: 'ignored' });
    expect(t.events).toEqual([]);
  });
});

describe('door controller: request-to-exit and remote unlock', () => {
  it('opens from inside on request-to-exit without an alarm', () => {
    const t = doorHarness();
    expect(t.door.requestToExit()).toMatchObject({ outcome: 'granted', unlockMs: 5000 });
    t.door.contact(true);
    t.door.contact(false);
    expect(t.kinds()).toEqual(['door.unlocked', 'door.opened', 'door.closed', 'door.locked']);
    expect(t.events[0]).toMatchObject({ data: { cause: 'request-to-exit' } });
    expect(t.alarms()).toEqual([]);
  });

  it('unlocks on an authorised remote command for the requested time', () => {
    const t = doorHarness();
    t.door.remoteUnlock(8000);
    expect(t.events).toEqual([
      { kind: 'door.unlocked', data: { door: 'main', cause: 'remote', durationMs: 8000 } },
    ]);
    t.clock.advance(8000);
    expect(t.relay).toEqual(['unlock', 'lock']);
  });
});

describe('door controller: fail mode', () => {
  it('locks a fail-secure door in fail mode and at stop', () => {
    const t = doorHarness();
    t.door.stop();
    expect(t.relay).toEqual(['lock']);
  });

  it('releases a fail-safe door in fail mode and at stop, and locks it for normal operation', () => {
    const t = doorHarness({ door: { failMode: 'safe' } });
    t.door.enterFailMode();
    expect(t.relay).toEqual(['unlock']);
    t.door.start();
    expect(t.relay).toEqual(['unlock', 'lock']);
    t.door.stop();
    expect(t.relay).toEqual(['unlock', 'lock', 'unlock']);
  });

  it('goes to the fail mode and raises an alarm on an internal error', () => {
    const safe = doorHarness({ door: { failMode: 'safe' } });
    safe.door.internalError('boom');
    expect(safe.relay).toEqual(['unlock']);
    expect(safe.events).toEqual([
      {
        kind: 'alarm.raised',
        data: expect.objectContaining({
          alarm: 'internal-error',
          severity: 'critical',
          door: 'main',
          detail: 'boom',
        }),
      },
    ]);
    const secure = doorHarness();
    secure.enter();
    secure.door.internalError('boom');
    expect(secure.relay.at(-1)).toBe('lock');
  });
});

describe('door controller: an entry the gateway itself ends', () => {
  const denied = (t: ReturnType<typeof doorHarness>) =>
    t.events.filter((e) => e.kind === 'access.denied').map((e) => e.data);

  it('denies an entry awaiting its code when the gateway stops, saying why', () => {
    const t = doorHarness();
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'awaiting-code' });
    t.door.stop();
    expect(denied(t)).toEqual([
      {
        door: 'main',
        direction: 'in',
        badge: 'B-ADA',
        person: 'ada',
        reason: 'code-timeout',
        detail: 'the gateway stopped before the code was entered',
      },
    ]);
    // Nothing left waiting: the timeout does not deny it a second time.
    t.clock.advance(60_000);
    expect(denied(t)).toHaveLength(1);
  });

  it('denies an entry awaiting its code on an internal error', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    t.door.internalError('boom');
    expect(denied(t)).toEqual([
      expect.objectContaining({
        badge: 'B-ADA',
        reason: 'code-timeout',
        detail: 'an internal error set the door to its fail mode before the code was entered',
      }),
    ]);
    t.clock.advance(60_000);
    expect(denied(t)).toHaveLength(1);
  });

  it('records no denial at stop when nobody was waiting', () => {
    const t = doorHarness();
    t.door.stop();
    expect(denied(t)).toEqual([]);
  });
});

describe('door controller: overlapping entries', () => {
  it('relocks on time when the next person badges while the door is still released', () => {
    const t = doorHarness();
    t.enter('B-ADA');
    t.clock.advance(1000);
    expect(t.door.badge('B-BEN')).toMatchObject({ outcome: 'awaiting-code' });
    t.clock.advance(4000);
    expect(t.relay).toEqual(['unlock', 'lock']);
    expect(t.door.code(t.code('B-BEN'))).toMatchObject({ outcome: 'granted', person: 'ben' });
    expect(t.relay).toEqual(['unlock', 'lock', 'unlock']);
  });
});
