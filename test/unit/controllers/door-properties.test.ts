import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duressVariant, TotpVerifier } from '../../../src/controllers/totp-verifier.js';
import type { EventBody } from '../../../src/protocol/event-kinds.js';
import { credential, doorHarness, SECRET_ADA, SECRET_BEN } from '../../helpers/door-harness.js';

/**
 * Random sequences of everything that can happen at a door, checked against the door's promises:
 * the lock is released only for a valid badge with a valid unused code, a request-to-exit, an
 * authorised remote command or an evacuation; and every decision is exactly one event.
 */
type Person = 'ada' | 'ben';
type Action =
  | { type: 'badge'; who: Person | 'revoked' | 'stranger'; direction: 'in' | 'out' }
  | { type: 'code'; variant: 'current' | 'previous' | 'next' | 'old' | 'wrong' | 'duress' }
  | { type: 'contact'; open: boolean }
  | { type: 'rex' }
  | { type: 'remote' }
  | { type: 'evacuation'; active: boolean }
  | { type: 'lockdown'; active: boolean }
  | { type: 'advance'; ms: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('badge' as const),
      who: fc.constantFrom('ada', 'ben', 'revoked', 'stranger'),
      direction: fc.constantFrom('in', 'in', 'out'),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      type: fc.constant('code' as const),
      variant: fc.constantFrom('current', 'current', 'previous', 'next', 'old', 'wrong', 'duress'),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('contact' as const), open: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ type: 'rex' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'remote' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('evacuation' as const), active: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('lockdown' as const), active: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({ type: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 45_000 }) }),
  },
);

const SECRETS: Record<string, string> = { ada: SECRET_ADA, ben: SECRET_BEN };
const BADGES: Record<string, string> = { ada: 'B-ADA', ben: 'B-BEN', revoked: 'B-REV', stranger: 'B-NOBODY' };
const isDecision = (e: EventBody) => e.kind === 'access.granted' || e.kind === 'access.denied';

function run(actions: Action[], duress: boolean): void {
  const t = doorHarness({
    duress: duress ? 'last-digit-plus-one' : undefined,
    credentials: [
      credential({ badge: 'B-ADA', person: 'ada', totpSecret: SECRET_ADA }),
      credential({ badge: 'B-BEN', person: 'ben', totpSecret: SECRET_BEN }),
      credential({ badge: 'B-REV', person: 'rev', status: 'revoked' }),
    ],
  });
  const oracle = new TotpVerifier();
  const usedStep: Record<string, number> = {};
  let pending: Person | undefined;
  /** The attempt awaiting its code, as the door's events and feedback show it. */
  let waiting: { badge: string; direction: 'in' | 'out' } | undefined;
  let displaced: typeof waiting;
  let lockdown = false;

  for (const a of actions) {
    const before = t.events.length;
    const relayBefore = t.relay.length;
    let codeWasGood = false;
    let codeStep = -1;
    switch (a.type) {
      case 'badge': {
        const badge = BADGES[a.who] as string;
        const repeat = waiting?.badge === badge && waiting.direction === a.direction;
        displaced = repeat ? undefined : waiting;
        const f = t.door.badge(badge, a.direction);
        pending = f.outcome === 'awaiting-code' && (a.who === 'ada' || a.who === 'ben') ? a.who : undefined;
        waiting = f.outcome === 'awaiting-code' ? { badge, direction: a.direction } : undefined;
        break;
      }
      case 'code': {
        const now = t.clock.now();
        const person = pending;
        const secret = person ? (SECRETS[person] as string) : SECRET_ADA;
        const offset = { current: 0, previous: -30_000, next: 30_000, old: -90_000, wrong: 0, duress: 0 }[
          a.variant
        ];
        let code = oracle.generate(secret, now + offset);
        if (a.variant === 'wrong') code = String((Number(code) + 123_457) % 1_000_000).padStart(6, '0');
        if (a.variant === 'duress') code = duressVariant(code);
        const real = ['current', 'previous', 'next'].includes(a.variant);
        codeStep = oracle.stepAt(now + offset);
        const unused = person !== undefined && codeStep > (usedStep[person] ?? -1);
        codeWasGood = person !== undefined && unused && (real || (a.variant === 'duress' && duress));
        const f = t.door.code(code);
        if (f.outcome === 'granted' && person) usedStep[person] = codeStep;
        pending = undefined;
        waiting = undefined;
        break;
      }
      case 'contact':
        t.door.contact(a.open);
        break;
      case 'rex':
        t.door.requestToExit();
        break;
      case 'remote':
        t.door.remoteUnlock();
        break;
      case 'evacuation':
        t.rules.evacuation = a.active;
        t.door.setEvacuation(a.active);
        break;
      case 'lockdown':
        lockdown = a.active;
        t.room.lockdown = a.active;
        if (a.active) t.door.lockdownStarted();
        if (a.active) pending = undefined;
        if (a.active) waiting = undefined;
        break;
      case 'advance':
        t.clock.advance(a.ms);
        if (a.ms >= 20_000) pending = undefined;
        break;
    }
    const produced = t.events.slice(before);
    if (
      produced.some(
        (e) => e.kind === 'access.denied' && e.data.reason === 'code-timeout' && a.type === 'advance',
      )
    )
      waiting = undefined;
    const unlocks = t.relay.slice(relayBefore).filter((r) => r === 'unlock').length;
    const releases = produced.filter((e) => e.kind === 'door.unlocked');
    const grants = produced.filter((e) => e.kind === 'access.granted');
    const decisions = produced.filter(isDecision);

    // Every relay release is announced, with a legitimate cause, by this very action.
    expect(releases.length).toBe(unlocks);
    for (const release of releases) {
      if (release.kind !== 'door.unlocked') continue;
      const cause = release.data.cause;
      const legitimate =
        (cause === 'access' && grants.length === 1) ||
        (cause === 'request-to-exit' && a.type === 'rex') ||
        (cause === 'remote' && a.type === 'remote') ||
        (cause === 'evacuation' && a.type === 'evacuation' && a.active);
      expect(legitimate, `unlock with cause ${cause} after ${JSON.stringify(a)}`).toBe(true);
    }
    // A grant needs a valid badge and, for entry, a valid unused code.
    for (const grant of grants) {
      if (grant.kind !== 'access.granted') continue;
      if (grant.data.factors.includes('totp')) {
        expect(a.type === 'code' && codeWasGood, `grant after ${JSON.stringify(a)}`).toBe(true);
      } else {
        expect(a.type === 'badge' && a.direction === 'out' && (a.who === 'ada' || a.who === 'ben')).toBe(
          true,
        );
      }
      if (grant.data.direction === 'in') expect(lockdown).toBe(false);
    }
    // Exactly one decision per decided input, none otherwise; a badge also decides the attempt it
    // cut short, first.
    if (a.type === 'badge') {
      const own = t.feedback.at(-1)?.outcome === 'awaiting-code' ? 0 : 1;
      expect(decisions.length).toBe(own + (displaced ? 1 : 0));
      if (displaced) expect(decisions[0]?.data).toMatchObject({ ...displaced, reason: 'code-timeout' });
    } else if (a.type === 'code')
      expect(decisions.length).toBe(t.feedback.at(-1)?.outcome === 'ignored' ? 0 : 1);
    else if (a.type === 'advance')
      expect(decisions.every((d) => d.kind === 'access.denied' && d.data.reason === 'code-timeout')).toBe(
        true,
      );
    else if (a.type === 'lockdown')
      expect(decisions.every((d) => d.kind === 'access.denied' && d.data.reason === 'lockdown')).toBe(true);
    else expect(decisions).toEqual([]);
    expect(decisions.length).toBeLessThanOrEqual(a.type === 'badge' ? 2 : 1);
    // The relay's last command agrees with what the door believes.
    const last = t.relay.at(-1) ?? 'lock';
    expect(last === 'unlock').toBe(t.door.isReleased);
  }
}

describe('door controller properties (fast-check)', () => {
  it('never releases the lock without a valid badge and unused code, REX, a remote command or an evacuation', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), fc.boolean(), (actions, duress) =>
        run(actions, duress),
      ),
      { numRuns: 400 },
    );
  });

  it('decides a code step only once per person even when the same code is typed again and again', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 29_000 }), (repeats, waitMs) => {
        const t = doorHarness();
        t.door.badge('B-ADA');
        const code = t.code();
        t.door.code(code);
        t.clock.advance(waitMs);
        for (let i = 0; i < repeats; i++) {
          t.door.badge('B-ADA');
          t.door.code(code);
        }
        expect(t.events.filter((e) => e.kind === 'access.granted')).toHaveLength(1);
      }),
    );
  });
});
