import { beforeEach, describe, expect, it } from 'vitest';
import { workstationSettings } from '../../../src/config/workstation-config.js';
import { LiveHub } from '../../../src/dashboard/live-hub.js';
import {
  type PresenceEventInput,
  PresenceService,
} from '../../../src/dashboard/presence/presence-service.js';
import {
  MemoryWorkstationSessionStore,
  type WorkstationSessionStore,
} from '../../../src/dashboard/storage/workstation-session-store.js';
import {
  hashWorkstationToken,
  type PresenceDirectory,
  type WorkstationStore,
} from '../../../src/dashboard/storage/workstation-store.js';
import { FakeClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';

/**
 * Lock on leave across restarts and dashboard instances: allows are stored (here in the memory
 * store every "instance" shares, as they share the table), and the end of a presence locks every
 * workstation that let the person in, from whichever instance sees it.
 */
const MIN = 60_000;

interface Lock {
  workstation: string;
  person: string;
  reason: string;
}

describe('presence: lock on leave', () => {
  let clock: FakeClock;
  let directory: PresenceDirectory;
  let stored: PresenceEventInput[];
  let sessions: MemoryWorkstationSessionStore;
  let seq: number;

  const badge = (
    person: string,
    over: { direction?: 'in' | 'out'; granted?: boolean; at?: number; door?: string } = {},
  ): PresenceEventInput => ({
    kind: over.granted === false ? 'access.denied' : 'access.granted',
    site: 'hq',
    gateway: 'gw-1',
    seq: ++seq,
    occurredAt: new Date(over.at ?? clock.now()).toISOString(),
    data: {
      door: over.door ?? 'main',
      direction: over.direction ?? 'in',
      person,
      badge: `b-${person}`,
      ...(over.granted === false ? { reason: 'wrong-code' } : {}),
    },
  });

  /** One dashboard instance; `stored` is the events table, shared by all. */
  const instance = (options: { store?: WorkstationSessionStore; hears?: () => boolean } = {}) => {
    const locks: Lock[] = [];
    const store = {
      directory: async () => structuredClone(directory),
      presenceEventsSince: async (since: number) => stored.filter((e) => Date.parse(e.occurredAt) >= since),
    } as unknown as WorkstationStore;
    const presence = new PresenceService({
      store,
      sessions: options.store ?? sessions,
      hub: new LiveHub(),
      clock,
      log: silentLogger,
      settings: workstationSettings({ workstations: {} }),
      onLeave: (workstation, person, reason) => locks.push({ workstation: workstation.id, person, reason }),
      ...(options.hears ? { hearsEveryInstance: options.hears } : {}),
    });
    /** What the ingest does: store, then hand over to presence (ClusterEvents does so on every instance). */
    const ingest = (...events: PresenceEventInput[]) => {
      stored.push(...events);
      presence.apply(events);
    };
    return { presence, locks, ingest };
  };

  beforeEach(() => {
    clock = new FakeClock(Date.UTC(2026, 5, 1, 8));
    stored = [];
    sessions = new MemoryWorkstationSessionStore();
    seq = 0;
    directory = {
      workstations: [
        { id: 'ws-1', site: 'hq', room: 'ident-1', name: 'ws-1', tokenHash: hashWorkstationToken('idgws_1') },
        { id: 'ws-2', site: 'hq', room: 'ident-1', name: 'ws-2', tokenHash: hashWorkstationToken('idgws_2') },
      ],
      doors: [
        { site: 'hq', id: 'main', room: 'ident-1' },
        { site: 'hq', id: 'other', room: 'ident-2' },
      ],
      people: [{ id: 'ada' }, { id: 'bob' }],
      revokedBadges: [],
    };
  });

  it('locks after a restart the workstation a person was allowed on before it', async () => {
    const before = instance();
    await before.presence.start();
    before.ingest(badge('ada'));
    expect(await before.presence.answer('ws-1', 'ada')).toEqual({ allow: true });
    before.presence.stop();
    clock.advance(5 * MIN);

    const after = instance();
    await after.presence.start();
    after.ingest(badge('ada', { direction: 'out' }));
    await after.presence.idle();
    expect(after.locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'exit' }]);
    after.presence.stop();
  });

  it('sends the lock once, from whichever instance claims the session first', async () => {
    const one = instance();
    const two = instance();
    await one.presence.start();
    await two.presence.start();
    const entry = badge('ada');
    stored.push(entry);
    one.presence.apply([entry]);
    two.presence.apply([entry]);
    expect(await one.presence.answer('ws-1', 'ada')).toEqual({ allow: true });
    const exit = badge('ada', { direction: 'out' });
    stored.push(exit);
    two.presence.apply([exit]);
    one.presence.apply([exit]);
    await Promise.all([one.presence.idle(), two.presence.idle()]);
    expect([...one.locks, ...two.locks]).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'exit' }]);
    expect(two.locks).toHaveLength(1);
    one.presence.stop();
    two.presence.stop();
  });

  it('locks when any of the users a workstation let in leaves, not only the last one allowed', async () => {
    const { presence, locks, ingest } = instance();
    await presence.start();
    ingest(badge('ada'), badge('bob'));
    expect(await presence.answer('ws-1', 'ada')).toEqual({ allow: true });
    // Bob's name typed at the greeter: PAM asks before the password is checked.
    expect(await presence.answer('ws-1', 'bob')).toEqual({ allow: true });
    ingest(badge('ada', { direction: 'out' }));
    await presence.idle();
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'exit' }]);
    ingest(badge('bob', { direction: 'out' }));
    await presence.idle();
    expect(locks.map((l) => l.person)).toEqual(['ada', 'bob']);
    presence.stop();
  });

  it('locks at start the workstation of a person who left while no dashboard ran', async () => {
    const before = instance();
    await before.presence.start();
    before.ingest(badge('ada'));
    await before.presence.answer('ws-1', 'ada');
    before.presence.stop();
    clock.advance(5 * MIN);
    stored.push(badge('ada', { direction: 'out' })); // stored, applied by nobody

    const after = instance();
    await after.presence.start();
    expect(after.locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'exit' }]);
    after.presence.stop();
  });

  it('keeps at start the session of a person still present', async () => {
    const before = instance();
    await before.presence.start();
    before.ingest(badge('ada'));
    await before.presence.answer('ws-1', 'ada');
    before.presence.stop();
    clock.advance(5 * MIN);

    const after = instance();
    await after.presence.start();
    expect(after.locks).toEqual([]);
    expect(await sessions.list()).toHaveLength(1);
    after.presence.stop();
  });

  it("leaves a session allowed within the last minute to the presence's end, then locks one whose person is not present", async () => {
    const { presence, locks } = instance();
    await presence.start();
    // Another instance allowed ada on an entry this one never applied.
    await sessions.allowed({ workstation: 'ws-1', site: 'hq', person: 'ada', allowedAt: clock.now() });
    await presence.refresh();
    expect(locks).toEqual([]);
    clock.advance(2 * MIN);
    await presence.refresh();
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'lease-expired' }]);
    presence.stop();
  });

  it("does not lock from its own presence while it may lack other instances' events", async () => {
    let hearing = true;
    const { presence, locks } = instance({ hears: () => hearing });
    await presence.start();
    await sessions.allowed({ workstation: 'ws-1', site: 'hq', person: 'ada', allowedAt: clock.now() });
    clock.advance(2 * MIN);
    hearing = false;
    await presence.refresh();
    expect(locks).toEqual([]);
    hearing = true;
    await presence.refresh();
    expect(locks).toHaveLength(1);
    presence.stop();
  });

  it('denies an allow that cannot be stored, as presence-unknown', async () => {
    const failing = new MemoryWorkstationSessionStore();
    failing.allowed = async () => {
      throw new Error('database down');
    };
    const { presence, ingest } = instance({ store: failing });
    await presence.start();
    ingest(badge('ada'));
    expect(await presence.answer('ws-1', 'ada')).toEqual({ allow: false, reason: 'presence-unknown' });
    expect(presence.view()[0]?.lastCheck).toMatchObject({ allow: false, reason: 'presence-unknown' });
    presence.stop();
  });

  it('locks every workstation of the site on an evacuation, which also ends presence', async () => {
    const { presence, locks, ingest } = instance();
    await presence.start();
    ingest(badge('ada'));
    await presence.answer('ws-1', 'ada');
    const evacuation = (active: boolean): PresenceEventInput => ({
      kind: 'evacuation.changed',
      site: 'hq',
      gateway: 'gw-1',
      seq: ++seq,
      occurredAt: new Date(clock.now()).toISOString(),
      data: { active },
    });
    ingest(evacuation(true));
    clock.advance(30 * MIN);
    ingest(evacuation(false));
    await presence.idle();
    expect(await presence.answer('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'ada', reason: 'evacuation' }]);
    presence.stop();
  });

  it('brings no presence back at a restart whose entry badge was revoked meanwhile', async () => {
    const before = instance();
    await before.presence.start();
    before.ingest(badge('ada'));
    directory.revokedBadges = ['b-ada'];
    await before.presence.refresh();
    before.presence.stop();

    const after = instance();
    await after.presence.start();
    expect(await after.presence.answer('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    after.presence.stop();
  });

  it('opens no presence for an entry a gateway granted on a badge revoked centrally', async () => {
    directory.revokedBadges = ['b-ada'];
    const { presence, ingest } = instance();
    await presence.start();
    ingest(badge('ada'));
    expect(await presence.answer('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    presence.stop();
  });

  it('rebuilds presence at start in stored order, by the gateway numbers, not by its clock', async () => {
    // The gateway's clock was 10 minutes fast at the entry, right again at the exit.
    stored.push(
      badge('ada', { at: clock.now() + 10 * MIN }),
      badge('ada', { direction: 'out', at: clock.now() + MIN }),
    );
    clock.advance(2 * MIN);
    const { presence } = instance();
    await presence.start();
    expect(await presence.answer('ws-1', 'ada')).toEqual({ allow: false, reason: 'not-present' });
    presence.stop();
  });

  it('ends the presence of an erased person, drops their name from the page and locks their workstation naming nobody', async () => {
    const { presence, locks, ingest } = instance();
    await presence.start();
    ingest(badge('ada'));
    await presence.answer('ws-1', 'ada');
    // `people erase ada`: the person and badges go, their session stays without them.
    sessions.erase('ada');
    directory.people = directory.people.filter((p) => p.id !== 'ada');
    await presence.refresh();
    const view = presence.view()[0];
    expect(view?.present).toEqual([]);
    expect(view?.lastCheck).toMatchObject({ user: 'erased', allow: true });
    expect(locks).toEqual([{ workstation: 'ws-1', person: 'erased', reason: 'badge-revoked' }]);
    presence.stop();
  });

  it('keeps no name on the page for a login check with a name that is nobody’s', async () => {
    const { presence } = instance();
    await presence.start();
    expect(await presence.answer('ws-1', 'CorrectHorse-Battery42')).toEqual({
      allow: false,
      reason: 'unknown-user',
    });
    const last = presence.view()[0]?.lastCheck;
    expect(last).toMatchObject({ allow: false, reason: 'unknown-user' });
    expect(last).not.toHaveProperty('user');
    presence.stop();
  });
});
