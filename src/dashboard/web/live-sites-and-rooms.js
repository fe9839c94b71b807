// The live page's sites and rooms: each site's lockdown and evacuation, each room's occupancy and
// own lockdown, and the commands that start and end them for those who respond.
import { api, el, toast, withReauth } from './lib.js';

/** A start or end button on a site's or room's tile. */
function actionButton(label, onclick, props = {}) {
  return el('button', { type: 'button', className: 'small secondary', ...props, onclick }, label);
}

export class SitesAndRooms {
  constructor(mayRespond) {
    this.mayRespond = mayRespond;
    /** Per site, the gateways that report its site-wide lockdown, and its evacuation, in force. */
    this.sites = new Map();
    this.rooms = new Map();
    this.siteList = el('ul', { id: 'sites', className: 'rooms' });
    this.roomList = el('ul', { id: 'rooms', className: 'rooms' });
  }

  /** The rooms and sites as GET /api/v1/overview reports them. */
  load(overview) {
    for (const r of overview.rooms) this.rooms.set(`${r.site}/${r.room}`, { ...r });
    for (const s of overview.sites) {
      const site = this.siteOf(s.site);
      site.lockdownGateways = new Set(s.lockdownGateways);
      site.evacuationGateways = new Set(s.evacuationGateways);
    }
  }

  /** A lockdown, evacuation or occupancy event; others leave sites and rooms as they are. */
  apply(event) {
    const d = event.data ?? {};
    if ((event.kind === 'lockdown.changed' && !d.room) || event.kind === 'evacuation.changed') {
      // Kept per gateway: the site stays locked down (or evacuated) while any of its gateways says so.
      const site = this.siteOf(event.site);
      const held = event.kind === 'lockdown.changed' ? site.lockdownGateways : site.evacuationGateways;
      if (d.active) held.add(event.gateway);
      else held.delete(event.gateway);
    }
    if (event.kind === 'lockdown.changed' && !d.room) this.render();
    else if (
      event.kind === 'room.occupancy' ||
      event.kind === 'lockdown.changed' ||
      event.kind === 'evacuation.changed'
    ) {
      const rooms = d.room
        ? [`${event.site}/${d.room}`]
        : [...this.rooms.keys()].filter((k) => k.startsWith(`${event.site}/`));
      for (const key of rooms) {
        const room = this.rooms.get(key) ?? {
          site: event.site,
          room: d.room,
          name: d.room,
          occupants: null,
          roomLockdown: false,
          evacuation: false,
        };
        if (event.kind === 'room.occupancy') room.occupants = d.occupants;
        if (event.kind === 'lockdown.changed') room.roomLockdown = Boolean(d.active);
        if (event.kind === 'evacuation.changed') room.evacuation = Boolean(d.active);
        room.updatedAt = event.occurredAt;
        this.rooms.set(key, room);
      }
      if (event.kind === 'evacuation.changed') this.render();
      else this.renderRooms();
    }
  }

  /** A site first heard of through one of its gateways gets its tile. */
  addSite(site) {
    if (this.sites.has(site)) return;
    this.siteOf(site);
    this.renderSites();
  }

  siteOf(site) {
    let entry = this.sites.get(site);
    if (!entry) {
      entry = { site, lockdownGateways: new Set(), evacuationGateways: new Set() };
      this.sites.set(site, entry);
    }
    return entry;
  }

  siteLocked(site) {
    return (this.sites.get(site)?.lockdownGateways.size ?? 0) > 0;
  }

  siteEvacuated(site) {
    return (this.sites.get(site)?.evacuationGateways.size ?? 0) > 0;
  }

  render() {
    this.renderSites();
    this.renderRooms();
  }

  renderSites() {
    const sites = [...this.sites.values()].sort((a, b) => a.site.localeCompare(b.site));
    this.siteList.replaceChildren(
      ...sites.map(({ site, lockdownGateways, evacuationGateways }) => {
        const locked = lockdownGateways.size > 0;
        const evacuated = evacuationGateways.size > 0;
        const label = locked ? 'End site lockdown' : 'Site lockdown…';
        const evacuation = evacuated ? 'End evacuation' : 'Evacuate…';
        const flags = [locked ? 'SITE LOCKDOWN' : null, evacuated ? 'EVACUATION' : null].filter(Boolean);
        const reporters = [
          locked ? `lockdown reported by ${[...lockdownGateways].sort().join(', ')}` : null,
          evacuated ? `evacuation reported by ${[...evacuationGateways].sort().join(', ')}` : null,
        ].filter(Boolean);
        return el(
          'li',
          { className: `room site${flags.length > 0 ? ' flagged' : ''}`, dataset: { site } },
          el('strong', {}, `Site ${site}`),
          flags.length > 0
            ? el('span', { className: 'flag' }, flags.join(' · '))
            : el('span', {}, 'no site lockdown, no evacuation'),
          reporters.length > 0 ? el('small', {}, reporters.join('; ')) : null,
          this.mayRespond
            ? el(
                'span',
                { className: 'actions' },
                actionButton(label, () => this.siteLockdown(site, !locked), {
                  'aria-label': `${label} (site ${site}, every door)`,
                }),
                actionButton(evacuation, () => this.evacuation(site, !evacuated), {
                  'aria-label': `${evacuation} (site ${site}, every door)`,
                }),
              )
            : null,
        );
      }),
    );
  }

  renderRooms() {
    this.roomList.replaceChildren(
      ...[...this.rooms.values()].map((room) => {
        // The room's own lockdown and its site's are shown apart: each ends only by its own request.
        // An evacuation is always the site's.
        const evacuated = room.evacuation || this.siteEvacuated(room.site);
        const flags = [
          room.roomLockdown ? 'LOCKDOWN' : null,
          this.siteLocked(room.site) ? 'SITE LOCKDOWN' : null,
          evacuated ? 'EVACUATION' : null,
        ]
          .filter(Boolean)
          .join(' · ');
        const actions = this.mayRespond
          ? el(
              'span',
              { className: 'actions' },
              actionButton(room.roomLockdown ? 'End lockdown' : 'Lockdown…', () =>
                this.roomAction(room, 'lockdown', !room.roomLockdown),
              ),
              actionButton(evacuated ? 'End evacuation' : 'Evacuate…', () =>
                this.roomAction(room, 'evacuation', !evacuated),
              ),
            )
          : null;
        return el(
          'li',
          { className: `room${flags ? ' flagged' : ''}`, dataset: { room: `${room.site}/${room.room}` } },
          el('strong', {}, room.name ?? room.room),
          el(
            'span',
            { className: 'occupants' },
            room.occupants === null || room.occupants === undefined
              ? 'occupancy unknown'
              : `${room.occupants} inside`,
          ),
          flags ? el('span', { className: 'flag' }, flags) : null,
          actions,
        );
      }),
    );
  }

  roomAction(room, what, active) {
    const start = active ? 'Start' : 'End';
    // Evacuation releases every door of the site; a lockdown from a room's tile is the room's own.
    if (what === 'evacuation') return this.evacuation(room.site, active);
    const stays =
      !active && this.siteLocked(room.site)
        ? ` The lockdown of site ${room.site} stays in force until it is ended for the site.`
        : '';
    return this.siteCommand(
      room.site,
      'lockdown',
      { room: room.room, active },
      `${start} lockdown of room ${room.name ?? room.room}.${stays}`,
    );
  }

  evacuation(site, active) {
    return this.siteCommand(
      site,
      'evacuation',
      { active },
      `${active ? 'Start' : 'End'} evacuation of site ${site} (every door).`,
    );
  }

  siteLockdown(site, active) {
    return this.siteCommand(
      site,
      'lockdown',
      { active },
      active
        ? `Start lockdown of site ${site}: entry is refused at every door of the site.`
        : `End lockdown of site ${site}: every door of the site. Rooms locked down on their own stay locked down.`,
      'site lockdown',
    );
  }

  /** Asks for the reason (the confirmation), re-authenticates when asked to, and sends. */
  async siteCommand(site, what, body, text, name = what) {
    const reason = window.prompt(`${text} Reason (goes to the audit log):`);
    if (!reason) return;
    try {
      const result = await withReauth(
        () => api('POST', `/api/v1/sites/${encodeURIComponent(site)}/${what}`, { ...body, reason }),
        `A ${name} needs your password and a code.`,
      );
      toast(
        `${name}: ${result.status}${result.reason ? ` (${result.reason})` : ''}`,
        result.status === 'ok' ? 'success' : 'error',
      );
    } catch (error) {
      toast(error.message, 'error');
    }
  }
}
