import type { Overview, OverviewCamera, OverviewDoor, OverviewRoom, OverviewSite } from '../http/schemas.js';

/**
 * The live overview, derived from the latest event of each kind of fact (a door's lock, its
 * contact, its alarm; a room's occupancy; a gateway's life sign; a camera's status …) and the
 * directory's names. Pure: the storage layer finds the facts, this decides what they mean.
 */

/** Which event kinds say something about which fact; a kind may speak to two (door.closed). */
export const FACETS = [
  ['door.locked', 'lock'],
  ['door.unlocked', 'lock'],
  ['door.opened', 'contact'],
  ['door.closed', 'contact'],
  ['door.closed', 'alarm'],
  ['door.forced', 'alarm'],
  ['door.held-open', 'alarm'],
  ['room.occupancy', 'occupancy'],
  ['lockdown.changed', 'lockdown'],
  ['evacuation.changed', 'evacuation'],
  ['gateway.online', 'doors'],
  ['gateway.online', 'life'],
  ['gateway.heartbeat', 'life'],
  ['gateway.offline', 'life'],
  ['camera.up', 'camera'],
  ['camera.down', 'camera'],
  ['video.segment', 'segment'],
] as const;

export type Facet = (typeof FACETS)[number][1];

/**
 * The newest event for one fact of one gateway. `subject` is the door, room or camera it is
 * about ('' for facts about the gateway or the whole site).
 */
export interface LatestFact {
  site: string;
  gateway: string;
  facet: Facet;
  subject: string;
  kind: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

export interface OverviewFacts {
  /** Registered gateways. */
  gateways: ReadonlyArray<{ site: string; id: string }>;
  /** The directory. */
  doors: ReadonlyArray<{ site: string; id: string; room: string | null; name: string }>;
  rooms: ReadonlyArray<{ site: string; id: string; name: string }>;
  cameras: ReadonlyArray<{ site: string; id: string }>;
  latest: readonly LatestFact[];
  lastIngestNo: number;
}

const latestOf = (facts: readonly (LatestFact | undefined)[]): LatestFact | undefined =>
  facts.reduce<LatestFact | undefined>(
    (newest, fact) => (fact && (!newest || fact.occurredAt > newest.occurredAt) ? fact : newest),
    undefined,
  );

const newestTime = (facts: readonly (LatestFact | undefined)[]): string | null =>
  latestOf(facts)?.occurredAt ?? null;

const byKey = <T>(list: T[], key: (item: T) => string): T[] =>
  list.sort((a, b) => key(a).localeCompare(key(b)));

export function deriveOverview(input: OverviewFacts): Overview {
  const facts = new Map<string, LatestFact>();
  const factKey = (site: string, gateway: string, facet: Facet, subject: string) =>
    `${site}\u0000${gateway}\u0000${facet}\u0000${subject}`;
  for (const fact of input.latest)
    facts.set(factKey(fact.site, fact.gateway, fact.facet, fact.subject), fact);
  const fact = (site: string, gateway: string, facet: Facet, subject = '') =>
    facts.get(factKey(site, gateway, facet, subject));

  const gateways = byKey(
    input.gateways.map(({ site, id }) => {
      const life = fact(site, id, 'life');
      return {
        site,
        gateway: id,
        online: life !== undefined && life.kind !== 'gateway.offline',
        lastSeenAt: life?.occurredAt ?? null,
      };
    }),
    (g) => `${g.site}/${g.gateway}`,
  );
  const online = new Map(gateways.map((g) => [`${g.site}/${g.gateway}`, g.online]));
  const gatewaysOf = (site: string) => gateways.filter((g) => g.site === site).map((g) => g.gateway);

  return {
    doors: deriveDoors(input, fact, online),
    rooms: deriveRooms(input, fact, gatewaysOf),
    sites: deriveSites(input, fact, gatewaysOf),
    gateways,
    cameras: deriveCameras(input, fact),
    lastIngestNo: input.lastIngestNo,
  };
}

type FactLookup = (site: string, gateway: string, facet: Facet, subject?: string) => LatestFact | undefined;

const isActive = (fact: LatestFact | undefined) => fact?.data.active === true;

function deriveDoors(input: OverviewFacts, fact: FactLookup, online: Map<string, boolean>): OverviewDoor[] {
  // Doors a gateway reported (events, or the list in its last gateway.online), then the directory's.
  const reported = new Map<string, { site: string; gateway: string; door: string }>();
  const add = (site: string, gateway: string, door: string) =>
    reported.set(`${site}/${gateway}/${door}`, { site, gateway, door });
  for (const f of input.latest) {
    if (f.facet === 'lock' || f.facet === 'contact' || f.facet === 'alarm') add(f.site, f.gateway, f.subject);
    if (f.facet === 'doors' && Array.isArray(f.data.doors))
      for (const door of f.data.doors) if (typeof door === 'string') add(f.site, f.gateway, door);
  }
  const directory = new Map(input.doors.map((d) => [`${d.site}/${d.id}`, d]));
  const doors: OverviewDoor[] = [...reported.values()].map(({ site, gateway, door }) => {
    const lock = fact(site, gateway, 'lock', door);
    const contact = fact(site, gateway, 'contact', door);
    const alarm = fact(site, gateway, 'alarm', door);
    const entry = directory.get(`${site}/${door}`);
    return {
      site,
      gateway,
      door,
      name: entry?.name ?? door,
      room: entry?.room ?? null,
      lock: lock ? (lock.kind === 'door.unlocked' ? 'unlocked' : 'locked') : 'unknown',
      contact: contact ? (contact.kind === 'door.opened' ? 'open' : 'closed') : 'unknown',
      alarm: alarm?.kind === 'door.forced' ? 'forced' : alarm?.kind === 'door.held-open' ? 'held-open' : null,
      gatewayOnline: online.get(`${site}/${gateway}`) ?? false,
      changedAt: newestTime([lock, contact, alarm]),
    };
  });
  const seen = new Set(doors.map((d) => `${d.site}/${d.door}`));
  for (const entry of input.doors) {
    if (seen.has(`${entry.site}/${entry.id}`)) continue;
    doors.push({
      site: entry.site,
      gateway: null,
      door: entry.id,
      name: entry.name,
      room: entry.room,
      lock: 'unknown',
      contact: 'unknown',
      alarm: null,
      gatewayOnline: false,
      changedAt: null,
    });
  }
  return byKey(doors, (d) => `${d.site}/${d.gateway ?? ''}/${d.door}`);
}

function deriveRooms(
  input: OverviewFacts,
  fact: FactLookup,
  gatewaysOf: (site: string) => string[],
): OverviewRoom[] {
  const names = new Map<string, { site: string; room: string; name: string }>();
  for (const r of input.rooms) names.set(`${r.site}/${r.id}`, { site: r.site, room: r.id, name: r.name });
  for (const f of input.latest) {
    if (
      (f.facet === 'occupancy' || f.facet === 'lockdown') &&
      f.subject !== '' &&
      !names.has(`${f.site}/${f.subject}`)
    )
      names.set(`${f.site}/${f.subject}`, { site: f.site, room: f.subject, name: f.subject });
  }
  // Facts may come from any gateway of the site; a flag is up while any gateway still reports it.
  const ofSite = (site: string, facet: Facet, subject = '') =>
    gatewaysOf(site).map((gateway) => fact(site, gateway, facet, subject));
  const active = (list: readonly (LatestFact | undefined)[]) => list.some(isActive);
  const rooms = [...names.values()].map(({ site, room, name }) => {
    const occupancy = ofSite(site, 'occupancy', room);
    const roomLockdown = ofSite(site, 'lockdown', room);
    const siteLockdown = ofSite(site, 'lockdown');
    const evacuation = ofSite(site, 'evacuation');
    const occupants = latestOf(occupancy)?.data.occupants;
    // Kept apart because each ends only with its own request (with or without the room).
    const lockdowns = { roomLockdown: active(roomLockdown), siteLockdown: active(siteLockdown) };
    return {
      site,
      room,
      name,
      occupants: typeof occupants === 'number' ? occupants : null,
      lockdown: lockdowns.roomLockdown || lockdowns.siteLockdown,
      ...lockdowns,
      evacuation: active(evacuation),
      updatedAt: newestTime([...occupancy, ...roomLockdown, ...siteLockdown, ...evacuation]),
    };
  });
  return byKey(rooms, (r) => `${r.site}/${r.room}`);
}

/**
 * Every site with a registered gateway or a room in the directory, so that a site lockdown or an
 * evacuation (always the whole site's) shows, and can be ended, even where no room is known.
 */
function deriveSites(
  input: OverviewFacts,
  fact: FactLookup,
  gatewaysOf: (site: string) => string[],
): OverviewSite[] {
  const sites = new Set([...input.gateways.map((g) => g.site), ...input.rooms.map((r) => r.site)]);
  return [...sites].sort().map((site) => {
    const reporting = (facet: Facet) =>
      gatewaysOf(site).map((gateway) => ({ gateway, fact: fact(site, gateway, facet) }));
    const lockdowns = reporting('lockdown');
    const evacuations = reporting('evacuation');
    const inForce = (reports: typeof lockdowns) =>
      reports.filter((r) => isActive(r.fact)).map((r) => r.gateway);
    const lockdownGateways = inForce(lockdowns);
    const evacuationGateways = inForce(evacuations);
    return {
      site,
      lockdown: lockdownGateways.length > 0,
      lockdownGateways,
      evacuation: evacuationGateways.length > 0,
      evacuationGateways,
      changedAt: newestTime([...lockdowns, ...evacuations].map((r) => r.fact)),
    };
  });
}

function deriveCameras(input: OverviewFacts, fact: FactLookup): OverviewCamera[] {
  const reported = new Map<string, { site: string; gateway: string; camera: string }>();
  for (const f of input.latest) {
    if (f.facet === 'camera' || f.facet === 'segment')
      reported.set(`${f.site}/${f.gateway}/${f.subject}`, {
        site: f.site,
        gateway: f.gateway,
        camera: f.subject,
      });
  }
  const cameras: OverviewCamera[] = [...reported.values()].map(({ site, gateway, camera }) => {
    const status = fact(site, gateway, 'camera', camera);
    const segment = fact(site, gateway, 'segment', camera);
    const down = status?.kind === 'camera.down' && !(segment && segment.occurredAt > status.occurredAt);
    const detail = [status?.data.reason, status?.data.detail].filter((t) => typeof t === 'string' && t);
    return {
      site,
      gateway,
      camera,
      state: down ? 'down' : 'recording',
      changedAt: status && (down || status.kind === 'camera.up') ? status.occurredAt : null,
      detail: down ? detail.join(': ') : null,
    };
  });
  const seen = new Set(cameras.map((c) => `${c.site}/${c.camera}`));
  for (const entry of input.cameras) {
    if (seen.has(`${entry.site}/${entry.id}`)) continue;
    cameras.push({
      site: entry.site,
      gateway: null,
      camera: entry.id,
      state: 'unknown',
      changedAt: null,
      detail: null,
    });
  }
  return byKey(cameras, (c) => `${c.site}/${c.gateway ?? ''}/${c.camera}`);
}
