import { beforeEach, describe, expect, it } from 'vitest';
import { workstationSettings } from '../../../src/config/workstation-config.js';
import { LiveHub } from '../../../src/dashboard/live-hub.js';
import { PresenceService } from '../../../src/dashboard/presence/presence-service.js';
import {
  hashWorkstationToken,
  type PresenceDirectory,
  type PresenceEventRow,
  type WorkstationStore,
} from '../../../src/dashboard/storage/workstation-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

const HOUR = 3_600_000;

/** The store as a plain object: the directory and the stored history are whatever a test sets. */
function fakeStore(directory: PresenceDirectory, history: PresenceEventRow[] = []) {
  return {
    directory: async () => structuredClone(directory),
    presenceEventsSince: async (since: number) => history.filter((e) => Date.parse(e.occurredAt) >= since),
  } as unknown as WorkstationStore;
}

describe('presence service', () => {
  let clock: FakeClock;
  let hub: LiveHub;
  let directory: PresenceDirectory;
  let locks: Array<{ workstation: string; person: string; reason: string }>;

  let seq = 0;
  const entry = (person: string, direction: 'in' | 'out' = 'in', at = clock.now()) => ({
    kind: 'access.granted',
    site: 'hq',
    gateway: 'gw-1',
    seq: ++seq,
    occurredAt: new Date(at).toISOString(),
    data: {
      door: 'main',
      direction,
      person,
      badge: `b-${person}`,
      factors: ['badge', 'totp'],
      unlockMs: 5000,
    },
  });

  const service = (history: PresenceEventRow[] = [], settings = {}, hearsEveryInstance?: () => boolean) =>
    new PresenceService({
      store: fakeStore(directory, history),
      hub,
      clock,
      log: silentLogger,
      settings: workstationSettings({ workstations: settings }),
      onLeave: (workstation, person, reason) => locks.push({ workstation: workstation.id, person, reason }),
      ...(hearsEveryInstance ? { hearsEveryInstance } : {}),
    });

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 8));
    hub = new LiveHub();
    locks = [];
    directory = {
      workstations: [
        {
          id: 'ws-1',
          site: 'hq',
          room: 'ident-1',
          name: 'ws-1',
          tokenHash: hashWorkstationToken('idgws_right'),
        },
      ],
      doors: [{ site: 'hq', id: 'main', room: 'ident-1' }],
      people: [
        { id: 'ada', trainingOn: '2026-01-10' },
        { id: 'bob', trainingOn: '2024-01-10' },
      ],
      revokedBadges: [],
    };
  });

  it('authenticates a workstation by its own token only', async () => {
    const presence = service();
    await presence.start();
    expect(presence.authenticate('ws-1', 'idgws_right')).toBe(true);
    expect(presence.authenticate('ws-1', 'idgws_wrong')).toBe(false);
    expect(presence.authenticate('ws-2', 'idgws_right')).toBe(false);
    presence.stop();
  });

  it('never lets a slower, older directory read replace a newer one', async () => {
    const older = structuredClone(directory);
    const newer = structuredClone(directory);
    newer.workstations.push({
      id: 'ws-2',
      site: 'hq',
      room: 'ident-1',
      name: 'ws-2',
      tokenHash: hashWorkstationToken('idgws_second'),
    });
    // The first read is slow and returns the directory before ws-2 was registered.
    let releaseOlder: () => void = () => undefined;
    const reads = [
      new Promise<PresenceDirectory>((resolve) => {
        releaseOlder = () => resolve(older);
      }),
      Promise.resolve(newer),
    ];
    const store = {
      directory: () => reads.shift() ?? Promise.resolve(newer),
      presenceEventsSince: async () => [],
    } as unknown as WorkstationStore;
    const presence = new PresenceService({
      store,
      hub,
      clock,
      log: silentLogger,
      settings: workstationSettings({ workstations: {} }),
    });
    const first = presence.refresh();
    const second = presence.refresh();
    releaseOlder();
    await Promise.all([first, second]);
    expect(presence.authenticate('ws-2', 'idgws_second')).toBe(true);
  });

  it('follows stored events from the live hub', async () => {
    const presence = service();
    await presence.start();
    hub.publish([entry('ada') as never]);
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: true });
    presence.stop();
  });

  it('rebuilds presence from the history of the last lease at start', async () => {
    const presence = service([entry('ada', 'in', clock.now() - HOUR)]);
    await presence.start();
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: true });
    presence.stop();
  });

  it('denies a present person whose training lapsed', async () => {
    const presence = service([], { trainingMaxDays: 365 });
    await presence.start();
    presence.apply([entry('bob'), entry('ada')]);
    expect(presence.check('ws-1', 'bob')).toEqual({ allow: false, reason: 'compliance-lapsed' });
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: true });
    presence.stop();
  });

  it("denies logins while other dashboard instances' events may be missing, and allows again once heard", async () => {
    let hearing = true;
    const presence = service([], {}, () => hearing);
    await presence.start();
    presence.apply([entry('ada')]);
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: true });
    hearing = false;
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: false, reason: 'presence-unknown' });
    expect(presence.view()[0]?.lastCheck).toMatchObject({ allow: false, reason: 'presence-unknown' });
    // What it knows for sure is still answered: an unknown workstation or person stays that.
    expect(presence.check('ws-9', 'ada')).toEqual({ allow: false, reason: 'unknown-workstation' });
    expect(presence.check('ws-1', 'eve')).toEqual({ allow: false, reason: 'unknown-user' });
    hearing = true;
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: true });
    presence.stop();
  });

  it('answers unknown-workstation and lease-expired', async () => {
    const presence = service([], { leaseHours: 1 });
    await presence.start();
    presence.apply([entry('ada')]);
    expect(presence.check('ws-9', 'ada')).toEqual({ allow: false, reason: 'unknown-workstation' });
    clock.advance(HOUR);
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: false, reason: 'lease-expired' });
    presence.stop();
  });

  it('locks the workstation a person logged into when their presence ends', async () => {
    const presence = service();
    await presence.start();
    presence.apply([entry('ada'), entry('bob')]);
    presence.check('ws-1', 'ada');
    presence.apply([entry('bob', 'out')]);
    await presence.idle();
    expect(locks).toEqual([]);
    presence.apply([entry('ada', 'out')]);
    await presence.idle();
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'exit' }]);
    presence.stop();
  });

  it('ends presence when a refresh finds the entry badge revoked', async () => {
    const presence = service();
    await presence.start();
    presence.apply([entry('ada')]);
    presence.check('ws-1', 'ada');
    directory.revokedBadges = ['b-ada'];
    await presence.refresh();
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'badge-revoked' }]);
    presence.stop();
  });

  it('ends presence in a room that is locked down', async () => {
    const presence = service();
    await presence.start();
    presence.apply([
      entry('ada'),
      {
        kind: 'lockdown.changed',
        site: 'hq',
        occurredAt: new Date(clock.now()).toISOString(),
        data: { room: 'ident-1', active: true },
      },
    ]);
    expect(presence.check('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    presence.stop();
  });
});
