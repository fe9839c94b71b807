import { describe, expect, it } from 'vitest';
import type { WeeklySchedule } from '../../../src/controllers/schedule.js';
import { duressVariant } from '../../../src/controllers/totp-verifier.js';
import { credential, doorHarness, SECRET_ADA, SECRET_BEN } from '../../helpers/door-harness.js';

describe('throttling', () => {
  it('locks a badge out after 5 wrong codes in 15 minutes, raising an alarm, and lets it in again later', () => {
    const t = doorHarness();
    for (let i = 0; i < 5; i++) {
      t.door.badge('B-ADA');
      t.door.code(t.wrongCode());
      t.clock.advance(60_000);
    }
    expect(t.alarms()).toEqual(['badge-locked-out']);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'locked-out' });
    // Another badge is not affected.
    expect(t.door.badge('B-BEN')).toMatchObject({ outcome: 'awaiting-code' });
    t.clock.advance(15 * 60_000);
    expect(t.events.at(-1)).toMatchObject({
      kind: 'alarm.cleared',
      data: { alarm: 'badge-locked-out', key: 'badge-locked-out:B-ADA' },
    });
    expect(t.enter('B-ADA')).toMatchObject({ outcome: 'granted' });
  });

  it('does not lock out for failures spread beyond the window', () => {
    const t = doorHarness();
    for (let i = 0; i < 6; i++) {
      t.door.badge('B-ADA');
      t.door.code(t.wrongCode());
      t.clock.advance(4 * 60_000);
    }
    expect(t.alarms()).toEqual([]);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'awaiting-code' });
  });

  it('throttles a reader that sees too many unknown badges, for every badge', () => {
    const t = doorHarness({
      rules: { readerThrottle: { maxFailures: 3, windowMs: 60_000, lockoutMs: 120_000 } },
    });
    for (const badge of ['X1', 'X2', 'X3']) t.door.badge(badge);
    expect(t.alarms()).toEqual(['reader-throttled']);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'locked-out' });
    t.clock.advance(120_000);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'awaiting-code' });
  });
});

describe('trust in the clock and in the credential cache', () => {
  it('refuses TOTP entry while the clock is not known to be synchronised, with an alarm', () => {
    const t = doorHarness();
    t.sync.ok = false;
    t.rules.checkHealth(t.clock.now());
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'clock-unsynchronised' });
    expect(t.alarms()).toEqual(['clock-unsynchronised']);
    t.sync.ok = true;
    t.rules.checkHealth(t.clock.now());
    expect(t.events.at(-1)).toMatchObject({ kind: 'alarm.cleared', data: { alarm: 'clock-unsynchronised' } });
    expect(t.enter()).toMatchObject({ outcome: 'granted' });
  });

  it('still lets people out by exit reader without a code while the clock is untrusted', () => {
    const t = doorHarness({ room: { antiPassback: 'off' } });
    t.sync.ok = false;
    expect(t.door.badge('B-ADA', 'out')).toMatchObject({ outcome: 'granted' });
  });

  it('stops granting when the credential cache is older than the offline horizon (fail closed)', () => {
    const t = doorHarness({ rules: { offlineHorizonMs: 3_600_000 } });
    t.setSyncedAt(t.clock.now());
    t.clock.advance(3_600_001);
    t.rules.checkHealth(t.clock.now());
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'credentials-stale' });
    expect(t.alarms()).toEqual(['credentials-stale']);
  });
});

describe('compliance prerequisites', () => {
  const rules = { compliance: { backgroundCheckMaxDays: 1095, trainingMaxDays: 365, warnDays: 30 } };

  it('denies a person whose training lapsed', () => {
    const t = doorHarness({
      rules,
      credentials: [
        credential({
          badge: 'B-ADA',
          person: 'ada',
          backgroundCheckOn: '2025-06-01',
          trainingOn: '2024-12-01',
        }),
      ],
    });
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'compliance-lapsed' });
  });

  it('denies a person with no recorded background check where one is required', () => {
    const t = doorHarness({
      rules,
      credentials: [credential({ badge: 'B-ADA', person: 'ada', trainingOn: '2025-12-01' })],
    });
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'compliance-lapsed' });
  });

  it('lets a compliant person in', () => {
    const t = doorHarness({
      rules,
      credentials: [
        credential({
          badge: 'B-ADA',
          person: 'ada',
          backgroundCheckOn: '2025-06-01',
          trainingOn: '2025-12-01',
        }),
      ],
    });
    expect(t.enter()).toMatchObject({ outcome: 'granted' });
  });
});

describe('schedules', () => {
  // 2026-01-07 is a Wednesday; 08:00:10 UTC is 09:00:10 in Berlin.
  const schedule: WeeklySchedule = {
    timezone: 'Europe/Berlin',
    windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '07:00', to: '19:00' }],
  };

  it('admits inside the weekly window and denies outside it', () => {
    const t = doorHarness({ credentials: [credential({ badge: 'B-ADA', person: 'ada', schedule })] });
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'awaiting-code' });
    t.clock.advance(11 * 3_600_000);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'outside-schedule' });
  });
});

describe('lockdown and evacuation', () => {
  it('denies entry during a room lockdown, refuses a waiting entry and relocks a door released for access', () => {
    const t = doorHarness();
    t.door.badge('B-BEN');
    t.room.lockdown = true;
    t.door.lockdownStarted();
    expect(t.denials()).toEqual(['lockdown']);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'lockdown' });
    t.room.lockdown = false;
    t.enter();
    t.room.lockdown = true;
    t.door.lockdownStarted();
    expect(t.relay).toEqual(['unlock', 'lock']);
  });

  it('denies entry during a site lockdown but lets people out', () => {
    const t = doorHarness();
    t.rules.siteLockdown = true;
    expect(t.door.badge('B-ADA')).toMatchObject({ reason: 'lockdown' });
    expect(t.door.requestToExit()).toMatchObject({ outcome: 'granted' });
    expect(t.door.badge('B-BEN', 'out')).toMatchObject({ outcome: 'granted' });
  });

  it('holds every door released during an evacuation, without forced or held-open alarms', () => {
    const t = doorHarness();
    t.door.setEvacuation(true);
    expect(t.events).toEqual([{ kind: 'door.unlocked', data: { door: 'main', cause: 'evacuation' } }]);
    t.door.contact(true);
    t.clock.advance(10 * 60_000);
    expect(t.alarms()).toEqual([]);
    expect(t.events.find((e) => e.kind === 'door.opened')).toMatchObject({ data: { authorised: true } });
    t.door.contact(false);
    expect(t.relay).toEqual(['unlock']);
    t.door.setEvacuation(false);
    expect(t.relay).toEqual(['unlock', 'lock']);
  });
});

describe('duress', () => {
  it('opens with the duress variant of the code exactly as with the real one, and raises a silent alarm', () => {
    const normal = doorHarness({ duress: 'last-digit-plus-one' });
    const coerced = doorHarness({ duress: 'last-digit-plus-one' });
    normal.door.badge('B-ADA');
    const asUsual = normal.door.code(normal.code());
    coerced.door.badge('B-ADA');
    const underDuress = coerced.door.code(duressVariant(coerced.code()));
    expect(underDuress).toEqual(asUsual);
    expect(coerced.relay).toEqual(['unlock']);
    expect(coerced.events.find((e) => e.kind === 'alarm.raised')).toMatchObject({
      data: { alarm: 'duress', silent: true, severity: 'critical', person: 'ada', door: 'main' },
    });
    expect(normal.alarms()).toEqual([]);
  });

  it('treats the duress variant as a wrong code where duress is not enabled', () => {
    const t = doorHarness();
    t.door.badge('B-ADA');
    expect(t.door.code(duressVariant(t.code()))).toMatchObject({ outcome: 'denied', reason: 'wrong-code' });
  });
});

describe('anti-passback and occupancy', () => {
  it('hard: denies entering twice and leaving without entering, and counts occupants', () => {
    const t = doorHarness({ room: { antiPassback: 'hard' } });
    expect(t.door.badge('B-ADA', 'out')).toMatchObject({ reason: 'anti-passback' });
    expect(t.enter()).toMatchObject({ outcome: 'granted' });
    expect(t.events.find((e) => e.kind === 'room.occupancy')).toEqual({
      kind: 'room.occupancy',
      data: { room: 'ident-1', occupants: 1 },
    });
    t.clock.advance(60_000);
    t.door.badge('B-ADA');
    expect(t.feedback.at(-1)).toMatchObject({ reason: 'anti-passback' });
    expect(t.door.badge('B-ADA', 'out')).toMatchObject({ outcome: 'granted' });
    expect(t.events.filter((e) => e.kind === 'room.occupancy').at(-1)).toMatchObject({
      data: { occupants: 0 },
    });
  });

  it('soft: grants and raises an alarm', () => {
    const t = doorHarness({ room: { antiPassback: 'soft' } });
    expect(t.door.badge('B-ADA', 'out')).toMatchObject({ outcome: 'granted' });
    expect(t.events.find((e) => e.kind === 'access.granted')).toMatchObject({
      data: { antiPassbackViolation: true },
    });
    expect(t.alarms()).toEqual(['anti-passback']);
  });

  it("forgets a person's state after the timed reset", () => {
    const t = doorHarness({ room: { antiPassback: 'hard', antiPassbackResetMs: 3_600_000 } });
    t.enter();
    t.clock.advance(3_600_000);
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'awaiting-code' });
  });
});

describe('two-person rule and first-person-in', () => {
  it('opens only when a second valid person authenticates within the window, granting both', () => {
    const t = doorHarness({ room: { twoPersonWindowMs: 30_000 } });
    expect(t.enter('B-ADA')).toEqual({ door: 'main', outcome: 'awaiting-second-person', timeoutMs: 30_000 });
    expect(t.relay).toEqual([]);
    t.clock.advance(10_000);
    expect(t.enter('B-BEN')).toMatchObject({ outcome: 'granted', person: 'ben' });
    expect(t.relay).toEqual(['unlock']);
    const grants = t.events.filter((e) => e.kind === 'access.granted');
    expect(grants.map((e) => e.data)).toEqual([
      expect.objectContaining({ person: 'ada', companion: 'ben' }),
      expect.objectContaining({ person: 'ben', companion: 'ada' }),
    ]);
  });

  it('denies the first person with two-person-rule when nobody follows in time', () => {
    const t = doorHarness({ room: { twoPersonWindowMs: 30_000 } });
    t.enter('B-ADA');
    t.clock.advance(30_001);
    expect(t.denials()).toEqual(['two-person-rule']);
    expect(t.relay).toEqual([]);
  });

  it('does not count the same person twice', () => {
    const t = doorHarness({ room: { twoPersonWindowMs: 30_000 } });
    t.enter('B-ADA');
    t.clock.advance(30_000 / 2 + 15_000);
    expect(t.enter('B-ADA')).toMatchObject({ outcome: 'awaiting-second-person' });
  });

  it('first-person-in: only a person allowed to open the room enters it while empty', () => {
    const t = doorHarness({
      room: { firstPersonIn: true },
      credentials: [
        credential({ badge: 'B-ADA', person: 'ada', totpSecret: SECRET_ADA }),
        credential({ badge: 'B-BEN', person: 'ben', totpSecret: SECRET_BEN, mayOpenRoom: true }),
      ],
    });
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'first-person-rule' });
    expect(t.enter('B-BEN')).toMatchObject({ outcome: 'granted' });
    t.clock.advance(10_000);
    expect(t.enter('B-ADA')).toMatchObject({ outcome: 'granted' });
  });
});

describe('exit reader', () => {
  it('lets a valid badge out without a code unless the door asks for one', () => {
    const t = doorHarness();
    expect(t.door.badge('B-ADA', 'out')).toMatchObject({ outcome: 'granted' });
    expect(t.events[0]).toMatchObject({
      kind: 'access.granted',
      data: { direction: 'out', factors: ['badge'] },
    });
    const strict = doorHarness({ door: { exitRequiresCode: true } });
    expect(strict.door.badge('B-ADA', 'out')).toMatchObject({ outcome: 'awaiting-code' });
  });
});

describe('deny wins', () => {
  it('reports the most important of several objections', () => {
    const t = doorHarness({
      credentials: [credential({ badge: 'B-ADA', person: 'ada', status: 'revoked', validUntil: 1 })],
    });
    t.rules.siteLockdown = true;
    t.sync.ok = false;
    expect(t.door.badge('B-ADA')).toMatchObject({ outcome: 'denied', reason: 'badge-revoked' });
    expect(t.decisions()).toHaveLength(1);
  });
});
