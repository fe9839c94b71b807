import { beforeEach, describe, expect, it } from 'vitest';
import { DoorController } from '../../../src/controllers/door-controller.js';
import type { Credential, DoorFeedback } from '../../../src/controllers/door-ports.js';
import { generateTotpSecret } from '../../../src/controllers/totp-secret.js';
import { TotpVerifier } from '../../../src/controllers/totp-verifier.js';
import { FakeClock } from '../../../src/lib/clock.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';

const SECRET = generateTotpSecret();
const credentials: Credential[] = [
  { badge: 'B-ADA', person: 'ada', name: 'Ada', status: 'active', totpSecret: SECRET },
  { badge: 'B-REV', person: 'rev', name: 'Rev', status: 'revoked', totpSecret: SECRET },
  {
    badge: 'B-OLD',
    person: 'old',
    name: 'Old',
    status: 'active',
    validUntil: Date.UTC(2025, 0, 1),
    totpSecret: SECRET,
  },
];

function setup(failMode: 'secure' | 'safe' = 'secure') {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 8, 0, 10));
  const events: EventBody[] = [];
  const feedback: DoorFeedback[] = [];
  const relay: string[] = [];
  const totp = new TotpVerifier();
  const door = new DoorController(
    { id: 'main', unlockMs: 5000, codeTimeoutMs: 20_000, heldOpenMs: 30_000, failMode },
    {
      clock,
      lock: { unlock: () => relay.push('unlock'), lock: () => relay.push('lock') },
      credentials: { findByBadge: (badge) => credentials.find((c) => c.badge === badge) },
      emit: (event) => events.push(event),
      feedback: (f) => feedback.push(f),
    },
    totp,
  );
  door.start();
  relay.length = 0;
  const code = () => totp.generate(SECRET, clock.now());
  const kinds = () => events.map((e) => e.kind);
  return { clock, events, feedback, relay, door, code, kinds };
}

describe('door controller: badge then TOTP code', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });

  it('asks for the code after a valid badge', () => {
    expect(t.door.badge('B-ADA')).toEqual({ door: 'main', outcome: 'awaiting-code', timeoutMs: 20_000 });
    expect(t.events).toEqual([]);
    expect(t.relay).toEqual([]);
  });

  it('unlocks for the unlock time after the correct code and relocks afterwards', () => {
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
      data: { door: 'main', person: 'ada', badge: 'B-ADA', factors: ['badge', 'totp'] },
    });
    t.clock.advance(4999);
    expect(t.relay).toEqual(['unlock']);
    t.clock.advance(1);
    expect(t.relay).toEqual(['unlock', 'lock']);
    expect(t.kinds()).toEqual(['access.granted', 'door.unlocked', 'door.locked']);
  });

  it('relocks as soon as the door closes again after a grant', () => {
    t.door.badge('B-ADA');
    t.door.code(t.code());
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
    t.door.badge('B-ADA');
    const wrong = t.code() === '000000' ? '111111' : '000000';
    expect(t.door.code(wrong)).toEqual({ door: 'main', outcome: 'denied', reason: 'wrong-code' });
    expect(t.relay).toEqual([]);
    expect(t.events).toEqual([
      {
        kind: 'access.denied',
        data: { door: 'main', direction: 'in', badge: 'B-ADA', person: 'ada', reason: 'wrong-code' },
      },
    ]);
  });

  it('denies a TOTP code reused within the same time step', () => {
    t.door.badge('B-ADA');
    const code = t.code();
    t.door.code(code);
    t.clock.advance(6000);
    t.door.badge('B-ADA');
    expect(t.door.code(code)).toMatchObject({ outcome: 'denied', reason: 'code-reused' });
  });

  it('denies with code-timeout when no code comes in time', () => {
    t.door.badge('B-ADA');
    t.clock.advance(20_000);
    expect(t.feedback.at(-1)).toEqual({ door: 'main', outcome: 'denied', reason: 'code-timeout' });
    expect(t.events).toEqual([
      {
        kind: 'access.denied',
        data: { door: 'main', direction: 'in', badge: 'B-ADA', person: 'ada', reason: 'code-timeout' },
      },
    ]);
    expect(t.door.code(t.code())).toMatchObject({ outcome: 'ignored' });
  });

  it('denies unknown, revoked and expired badges without asking for a code', () => {
    expect(t.door.badge('B-NOBODY')).toMatchObject({ outcome: 'denied', reason: 'unknown-badge' });
    expect(t.door.badge('B-REV')).toMatchObject({ outcome: 'denied', reason: 'badge-revoked' });
    expect(t.door.badge('B-OLD')).toMatchObject({ outcome: 'denied', reason: 'badge-expired' });
    expect(t.events.map((e) => (e.kind === 'access.denied' ? e.data.reason : e.kind))).toEqual([
      'unknown-badge',
      'badge-revoked',
      'badge-expired',
    ]);
    expect(t.door.code(t.code())).toMatchObject({ outcome: 'ignored', why: 'no badge presented' });
  });

  it('ignores a code typed without a badge', () => {
    expect(t.door.code('123456')).toEqual({ door: 'main', outcome: 'ignored', why: 'no badge presented' });
    expect(t.events).toEqual([]);
  });
});

describe('door controller: door contact', () => {
  it('raises door-forced when the door opens without a grant', () => {
    const t = setup();
    expect(t.door.contact(true)).toEqual({ door: 'main', outcome: 'door', state: 'forced' });
    expect(t.kinds()).toEqual(['door.opened', 'door.forced']);
    expect(t.events[0]).toMatchObject({ data: { authorised: false } });
  });

  it('raises held-open once after the held-open time and reports the open time on close', () => {
    const t = setup();
    t.door.badge('B-ADA');
    t.door.code(t.code());
    t.door.contact(true);
    t.clock.advance(30_000);
    expect(t.kinds()).toContain('door.held-open');
    t.clock.advance(30_000);
    expect(t.kinds().filter((k) => k === 'door.held-open')).toHaveLength(1);
    t.door.contact(false);
    expect(t.events.at(-1)).toEqual({ kind: 'door.closed', data: { door: 'main', openMs: 60_000 } });
  });

  it('does not raise held-open when the door closes in time', () => {
    const t = setup();
    t.door.badge('B-ADA');
    t.door.code(t.code());
    t.door.contact(true);
    t.clock.advance(29_000);
    t.door.contact(false);
    t.clock.advance(60_000);
    expect(t.kinds()).not.toContain('door.held-open');
  });
});

describe('door controller: fail mode', () => {
  it('locks a fail-secure door at start and at stop', () => {
    const t = setup('secure');
    t.door.stop();
    expect(t.relay).toEqual(['lock']);
  });

  it('releases a fail-safe door at start and at stop', () => {
    const relay: string[] = [];
    const door = new DoorController(
      { id: 'exit', unlockMs: 5000, codeTimeoutMs: 20_000, heldOpenMs: 30_000, failMode: 'safe' },
      {
        clock: new FakeClock(),
        lock: { unlock: () => relay.push('unlock'), lock: () => relay.push('lock') },
        credentials: { findByBadge: () => undefined },
        emit: () => {},
        feedback: () => {},
      },
      new TotpVerifier(),
    );
    door.start();
    door.stop();
    expect(relay).toEqual(['unlock', 'unlock']);
  });
});
