import { describe, expect, it } from 'vitest';
import {
  deriveOverview,
  type Facet,
  type LatestFact,
  type OverviewFacts,
} from '../../../../src/dashboard/monitoring/overview.js';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 5, 10, minute)).toISOString();

function fact(
  facet: Facet,
  kind: string,
  minute: number,
  subject = '',
  data: Record<string, unknown> = {},
  gateway = 'gw-1',
): LatestFact {
  return { site: 'hh', gateway, facet, subject, kind, occurredAt: at(minute), data };
}

function facts(latest: LatestFact[], more: Partial<OverviewFacts> = {}): OverviewFacts {
  return {
    gateways: [{ site: 'hh', id: 'gw-1' }],
    doors: [],
    rooms: [],
    cameras: [],
    latest,
    lastIngestNo: 42,
    ...more,
  };
}

const online = fact('life', 'gateway.heartbeat', 0);

describe('overview: doors', () => {
  it('shows a door its gateway listed on start-up, with no door event yet, as unknown rather than locked', () => {
    const overview = deriveOverview(
      facts([online, fact('doors', 'gateway.online', 0, '', { doors: ['main'] })]),
    );
    expect(overview.doors).toEqual([
      {
        site: 'hh',
        gateway: 'gw-1',
        door: 'main',
        name: 'main',
        room: null,
        lock: 'unknown',
        contact: 'unknown',
        alarm: null,
        gatewayOnline: true,
        changedAt: null,
      },
    ]);
  });

  it('takes the lock from the newest lock event and the contact from the newest contact event', () => {
    const [door] = deriveOverview(
      facts([online, fact('lock', 'door.unlocked', 3, 'main'), fact('contact', 'door.opened', 4, 'main')]),
    ).doors;
    expect(door).toMatchObject({ lock: 'unlocked', contact: 'open', alarm: null, changedAt: at(4) });
  });

  it('keeps a forced or held-open alarm until the door closed after it', () => {
    const forced = deriveOverview(facts([online, fact('alarm', 'door.forced', 5, 'main')])).doors[0];
    expect(forced?.alarm).toBe('forced');
    const held = deriveOverview(facts([online, fact('alarm', 'door.held-open', 5, 'main')])).doors[0];
    expect(held?.alarm).toBe('held-open');
    const closed = deriveOverview(facts([online, fact('alarm', 'door.closed', 6, 'main')])).doors[0];
    expect(closed?.alarm).toBeNull();
  });

  it('names doors from the directory, and lists a directory door no gateway reported without a gateway', () => {
    const overview = deriveOverview(
      facts([online, fact('lock', 'door.locked', 1, 'main')], {
        doors: [
          { site: 'hh', id: 'main', room: 'ident-1', name: 'Main entrance' },
          { site: 'hh', id: 'back', room: null, name: 'Back door' },
        ],
      }),
    );
    expect(overview.doors.map((d) => [d.door, d.gateway, d.name, d.room, d.lock, d.gatewayOnline])).toEqual([
      ['back', null, 'Back door', null, 'unknown', false],
      ['main', 'gw-1', 'Main entrance', 'ident-1', 'locked', true],
    ]);
  });
});

describe('overview: gateways', () => {
  it('is online after a heartbeat, offline after gateway.offline, offline without a life sign in the window', () => {
    const two = [
      { site: 'hh', id: 'gw-1' },
      { site: 'hh', id: 'gw-2' },
      { site: 'hh', id: 'gw-3' },
    ];
    const overview = deriveOverview(
      facts([online, fact('life', 'gateway.offline', 2, '', { reason: 'shutdown' }, 'gw-2')], {
        gateways: two,
      }),
    );
    expect(overview.gateways).toEqual([
      { site: 'hh', gateway: 'gw-1', online: true, lastSeenAt: at(0) },
      { site: 'hh', gateway: 'gw-2', online: false, lastSeenAt: at(2) },
      { site: 'hh', gateway: 'gw-3', online: false, lastSeenAt: null },
    ]);
    expect(overview.lastIngestNo).toBe(42);
  });

  it("marks a door's gateway offline on its tile", () => {
    const [door] = deriveOverview(
      facts([
        fact('life', 'gateway.offline', 1, '', { reason: 'restart' }),
        fact('lock', 'door.locked', 0, 'main'),
      ]),
    ).doors;
    expect(door?.gatewayOnline).toBe(false);
  });
});

describe('overview: rooms', () => {
  it('counts occupants and flags a lockdown of the room', () => {
    const overview = deriveOverview(
      facts([
        fact('occupancy', 'room.occupancy', 1, 'ident-1', { room: 'ident-1', occupants: 2 }),
        fact('lockdown', 'lockdown.changed', 2, 'ident-1', { room: 'ident-1', active: true }),
      ]),
    );
    expect(overview.rooms).toEqual([
      {
        site: 'hh',
        room: 'ident-1',
        name: 'ident-1',
        occupants: 2,
        lockdown: true,
        roomLockdown: true,
        siteLockdown: false,
        evacuation: false,
        updatedAt: at(2),
      },
    ]);
  });

  it('applies a site-wide lockdown and an evacuation to every room of the site', () => {
    const overview = deriveOverview(
      facts(
        [
          fact('lockdown', 'lockdown.changed', 3, '', { active: true }),
          fact('evacuation', 'evacuation.changed', 4, '', { active: true }),
        ],
        {
          rooms: [
            { site: 'hh', id: 'ident-1', name: 'Ident 1' },
            { site: 'hh', id: 'ident-2', name: 'Ident 2' },
          ],
        },
      ),
    );
    expect(
      overview.rooms.map((r) => [r.name, r.occupants, r.lockdown, r.siteLockdown, r.evacuation, r.updatedAt]),
    ).toEqual([
      ['Ident 1', null, true, true, true, at(4)],
      ['Ident 2', null, true, true, true, at(4)],
    ]);
  });

  it('tells a site lockdown from a lockdown of the room, and keeps the room locked down by the site after its own ended', () => {
    const [room] = deriveOverview(
      facts([
        fact('lockdown', 'lockdown.changed', 3, '', { active: true }),
        fact('lockdown', 'lockdown.changed', 4, 'ident-1', { room: 'ident-1', active: false }),
      ]),
    ).rooms;
    expect(room).toMatchObject({ lockdown: true, roomLockdown: false, siteLockdown: true });
  });

  it('ends the lockdown when the gateway reports it inactive', () => {
    const [room] = deriveOverview(
      facts([fact('lockdown', 'lockdown.changed', 5, 'ident-1', { room: 'ident-1', active: false })]),
    ).rooms;
    expect(room?.lockdown).toBe(false);
  });
});

describe('overview: sites', () => {
  const two = {
    gateways: [
      { site: 'hh', id: 'gw-1' },
      { site: 'hh', id: 'gw-2' },
    ],
  };

  const calm = { lockdown: false, lockdownGateways: [], evacuation: false, evacuationGateways: [] };

  it('lists every site of a registered gateway, without a lockdown until one is reported', () => {
    expect(deriveOverview(facts([online], two)).sites).toEqual([{ site: 'hh', ...calm, changedAt: null }]);
  });

  it('shows a site lockdown though no room of the site is known, with the gateway that reports it', () => {
    const overview = deriveOverview(
      facts([fact('lockdown', 'lockdown.changed', 3, '', { active: true })], two),
    );
    expect(overview.rooms).toEqual([]);
    expect(overview.sites).toEqual([
      { site: 'hh', ...calm, lockdown: true, lockdownGateways: ['gw-1'], changedAt: at(3) },
    ]);
  });

  it('keeps the site lockdown while any gateway of the site still reports it', () => {
    const overview = deriveOverview(
      facts(
        [
          fact('lockdown', 'lockdown.changed', 3, '', { active: true }, 'gw-2'),
          fact('lockdown', 'lockdown.changed', 5, '', { active: false }, 'gw-1'),
        ],
        two,
      ),
    );
    expect(overview.sites).toEqual([
      { site: 'hh', ...calm, lockdown: true, lockdownGateways: ['gw-2'], changedAt: at(5) },
    ]);
  });

  it('shows an evacuation of the site though no room is known, while any gateway still reports it', () => {
    const overview = deriveOverview(
      facts(
        [
          fact('evacuation', 'evacuation.changed', 3, '', { active: true }, 'gw-2'),
          fact('evacuation', 'evacuation.changed', 4, '', { active: false }, 'gw-1'),
        ],
        two,
      ),
    );
    expect(overview.sites).toEqual([
      { site: 'hh', ...calm, evacuation: true, evacuationGateways: ['gw-2'], changedAt: at(4) },
    ]);
  });

  it('does not count a lockdown of one room as a site lockdown', () => {
    const [site] = deriveOverview(
      facts([fact('lockdown', 'lockdown.changed', 3, 'ident-1', { room: 'ident-1', active: true })]),
    ).sites;
    expect(site).toMatchObject({ lockdown: false, lockdownGateways: [] });
  });
});

describe('overview: cameras', () => {
  it('shows a camera down with its reason, and recording again once a segment came after', () => {
    const down = fact('camera', 'camera.down', 5, 'cam-1', {
      camera: 'cam-1',
      reason: 'stall',
      detail: 'no data',
    });
    expect(deriveOverview(facts([down])).cameras).toEqual([
      {
        site: 'hh',
        gateway: 'gw-1',
        camera: 'cam-1',
        state: 'down',
        changedAt: at(5),
        detail: 'stall: no data',
      },
    ]);
    const [again] = deriveOverview(facts([down, fact('segment', 'video.segment', 6, 'cam-1')])).cameras;
    expect(again).toMatchObject({ state: 'recording', detail: null });
  });

  it('shows a camera that came up as recording since then, and a directory camera with no event as unknown', () => {
    const overview = deriveOverview(
      facts([fact('camera', 'camera.up', 1, 'cam-1', { camera: 'cam-1', restarts: 0 })], {
        cameras: [
          { site: 'hh', id: 'cam-1' },
          { site: 'hh', id: 'cam-2' },
        ],
      }),
    );
    expect(overview.cameras.map((c) => [c.camera, c.gateway, c.state, c.changedAt])).toEqual([
      ['cam-2', null, 'unknown', null],
      ['cam-1', 'gw-1', 'recording', at(1)],
    ]);
  });
});
