// The live monitor: door tiles, sites (site lockdown), rooms (occupancy, lockdown, evacuation),
// gateways and cameras, open alarms, and the event feed — first from GET /api/v1/overview, then
// kept current by the Server-Sent Events of GET /api/v1/live, which resume after a network blip
// without a gap.
import { age, api, el, eventRow, formatTime, loadPhotos, session, toast, withReauth } from './lib.js';
import { registerPage } from './router.js';

const MAX_ROWS = 300;
const RESPONDERS = ['security'];

function doorKey(site, gateway, door) {
  return `${site}/${gateway}/${door}`;
}

/** Door state as a tile shows it, advanced by events. */
function applyDoorEvent(state, event) {
  switch (event.kind) {
    case 'door.unlocked':
      state.lock = 'unlocked';
      break;
    case 'door.locked':
      state.lock = 'locked';
      break;
    case 'door.opened':
      state.contact = 'open';
      break;
    case 'door.closed':
      state.contact = 'closed';
      state.alarm = null;
      break;
    case 'door.forced':
      state.alarm = 'forced';
      break;
    case 'door.held-open':
      state.alarm = 'held-open';
      break;
    default:
      return false;
  }
  state.changedAt = event.occurredAt;
  return true;
}

function tileClass(door) {
  if (!door.gatewayOnline) return 'offline';
  if (door.alarm) return 'alarm';
  if (door.contact === 'open') return 'open';
  if (door.lock === 'unknown') return 'unknown';
  return door.lock === 'unlocked' ? 'unlocked' : 'locked';
}

function tileText(door) {
  if (!door.gatewayOnline) return 'OFFLINE';
  if (door.alarm === 'forced') return 'ALARM: forced';
  if (door.alarm === 'held-open') return 'ALARM: held open';
  // 'unknown' until the door reports (the overview reads a bounded window of events).
  if (door.lock === 'unknown' && door.contact === 'unknown') return 'unknown';
  return `${door.lock}, ${door.contact}`;
}

class LiveMonitor {
  constructor(view) {
    this.view = view;
    this.doors = new Map();
    this.rooms = new Map();
    /** Per site, the gateways that report its site-wide lockdown in force. */
    this.sites = new Map();
    this.gateways = new Map();
    this.cameras = new Map();
    this.alarms = new Map();
    this.seen = 0;
    this.baseline = 0;
    this.sound = false;
    this.mayRespond = RESPONDERS.includes(session.role);
    this.build();
  }

  build() {
    this.banner = el('div', {
      className: 'critical-banner',
      id: 'critical-banner',
      role: 'alert',
      hidden: true,
    });
    this.doorList = el('ul', { id: 'doors', className: 'doors' });
    this.siteList = el('ul', { id: 'sites', className: 'rooms' });
    this.roomList = el('ul', { id: 'rooms', className: 'rooms' });
    this.healthList = el('ul', { id: 'health', className: 'health' });
    this.alarmList = el('ul', { id: 'alarms', className: 'alarms' });
    this.feed = el('tbody', { id: 'events' });
    this.empty = el(
      'p',
      { id: 'empty', className: 'empty' },
      'No events yet. Present a badge at a door (or run npx identgate sim badge …).',
    );
    const soundToggle = el(
      'button',
      { type: 'button', className: 'secondary small', id: 'sound-toggle', 'aria-pressed': 'false' },
      'Sound off',
    );
    soundToggle.addEventListener('click', () => {
      this.sound = !this.sound;
      soundToggle.textContent = this.sound ? 'Sound on' : 'Sound off';
      soundToggle.setAttribute('aria-pressed', String(this.sound));
      if (this.sound) this.audio ??= new AudioContext();
    });
    this.view.append(
      this.banner,
      el(
        'div',
        { className: 'live-grid' },
        el(
          'section',
          { 'aria-labelledby': 'doors-title' },
          el('h2', { id: 'doors-title' }, 'Doors'),
          this.doorList,
        ),
        el(
          'section',
          { 'aria-labelledby': 'alarms-title' },
          el('h2', { id: 'alarms-title' }, 'Open alarms ', soundToggle),
          this.alarmList,
        ),
        el(
          'section',
          { 'aria-labelledby': 'rooms-title' },
          el('h2', { id: 'rooms-title' }, 'Sites and rooms'),
          this.siteList,
          this.roomList,
        ),
        el(
          'section',
          { 'aria-labelledby': 'health-title' },
          el('h2', { id: 'health-title' }, 'Gateways and cameras'),
          this.healthList,
        ),
      ),
      el(
        'section',
        { 'aria-labelledby': 'events-title' },
        el('h2', { id: 'events-title' }, 'Events'),
        el(
          'table',
          { className: 'events' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['Time', 'Site / gateway', 'Door', 'Event', 'Person / badge', 'Detail'].map((h) =>
                el('th', { scope: 'col' }, h),
              ),
            ),
          ),
          this.feed,
        ),
        this.empty,
      ),
    );
  }

  async start() {
    const [overview, alarms] = await Promise.all([
      api('GET', '/api/v1/overview'),
      api('GET', '/api/v1/alarms?state=open&limit=200'),
      loadPhotos(),
    ]);
    this.baseline = overview.lastIngestNo;
    for (const d of overview.doors) this.doors.set(doorKey(d.site, d.gateway, d.door), { ...d });
    for (const r of overview.rooms) this.rooms.set(`${r.site}/${r.room}`, { ...r });
    for (const s of overview.sites) this.siteOf(s.site).lockdownGateways = new Set(s.lockdownGateways);
    for (const g of overview.gateways) this.gateways.set(`${g.site}/${g.gateway}`, { ...g });
    for (const c of overview.cameras) this.cameras.set(`${c.site}/${c.gateway}/${c.camera}`, { ...c });
    for (const a of alarms.alarms) this.alarms.set(a.id, a);
    this.renderAll();
    this.connect();
    this.ticker = setInterval(() => this.renderAlarms(), 15_000);
  }

  connect() {
    const connection = document.getElementById('connection');
    const set = (text, state) => {
      connection.textContent = text;
      connection.dataset.state = state;
    };
    set('connecting…', 'connecting');
    // The browser resumes with Last-Event-ID after a blip; the server sends what was missed.
    this.source = new EventSource('/api/v1/live?recent=100');
    let opened = 0;
    this.source.addEventListener('open', () => {
      set('live', 'live');
      // Alarm messages are not replayed after a reconnect: what changed meanwhile comes from the list.
      opened += 1;
      if (opened > 1) {
        this.reloadAlarms();
        loadPhotos().catch(() => {});
      }
    });
    this.source.addEventListener('error', () => set('reconnecting…', 'reconnecting'));
    this.source.addEventListener('event', (message) => this.onEvent(JSON.parse(message.data)));
    this.source.addEventListener('alarm', (message) => this.onAlarm(JSON.parse(message.data)));
    // This dashboard instance does not hear the events the others store: nothing new comes until
    // it does, and then what was stored meanwhile comes in order.
    this.source.addEventListener('status', (message) => {
      if (JSON.parse(message.data).hearing) set('live', 'live');
      else set('paused: not hearing the other dashboard instances', 'paused');
    });
    this.source.addEventListener('session-ended', () => {
      this.source.close();
      window.dispatchEvent(new CustomEvent('identgate:signed-out'));
    });
  }

  async reloadAlarms() {
    try {
      const { alarms } = await api('GET', '/api/v1/alarms?state=open&limit=200');
      this.alarms = new Map(alarms.map((a) => [a.id, a]));
      this.renderAlarms();
    } catch (error) {
      toast(`Could not reload the alarms: ${error.message}`, 'error');
    }
  }

  stop() {
    this.source?.close();
    clearInterval(this.ticker);
    const connection = document.getElementById('connection');
    connection.textContent = '';
    delete connection.dataset.state;
  }

  onEvent(event) {
    if (event.ingestNo <= this.seen) return;
    this.seen = event.ingestNo;
    const row = eventRow(event);
    if (event.ingestNo > this.baseline) {
      row.classList.add('new');
      this.applyToState(event);
    }
    this.feed.prepend(row);
    while (this.feed.rows.length > MAX_ROWS) this.feed.deleteRow(this.feed.rows.length - 1);
    this.empty.hidden = this.feed.rows.length > 0;
  }

  applyToState(event) {
    const gatewayKey = `${event.site}/${event.gateway}`;
    if (event.door) {
      const key = doorKey(event.site, event.gateway, event.door);
      const door = this.doors.get(key) ?? {
        site: event.site,
        gateway: event.gateway,
        door: event.door,
        name: event.door,
        room: null,
        lock: 'unknown',
        contact: 'unknown',
        alarm: null,
        gatewayOnline: true,
      };
      if (applyDoorEvent(door, event)) {
        this.doors.set(key, door);
        this.renderDoors();
      }
    }
    const d = event.data ?? {};
    if (event.kind === 'lockdown.changed' && !d.room) {
      // Kept per gateway: the site stays locked down while any of its gateways still says so.
      const held = this.siteOf(event.site).lockdownGateways;
      if (d.active) held.add(event.gateway);
      else held.delete(event.gateway);
      this.renderSites();
      this.renderRooms();
    } else if (
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
      this.renderRooms();
    }
    if (
      event.kind === 'gateway.online' ||
      event.kind === 'gateway.offline' ||
      event.kind === 'gateway.heartbeat'
    ) {
      const gateway = this.gateways.get(gatewayKey) ?? { site: event.site, gateway: event.gateway };
      if (!this.sites.has(event.site)) {
        this.siteOf(event.site);
        this.renderSites();
      }
      gateway.online = event.kind !== 'gateway.offline';
      gateway.lastSeenAt = event.occurredAt;
      this.gateways.set(gatewayKey, gateway);
      for (const door of this.doors.values())
        if (`${door.site}/${door.gateway}` === gatewayKey) door.gatewayOnline = gateway.online;
      this.renderDoors();
      this.renderHealth();
    }
    if (
      (event.kind === 'camera.up' || event.kind === 'camera.down' || event.kind === 'video.segment') &&
      d.camera
    ) {
      const key = `${event.site}/${event.gateway}/${d.camera}`;
      const camera = this.cameras.get(key) ?? { site: event.site, gateway: event.gateway, camera: d.camera };
      const before = camera.state;
      camera.state = event.kind === 'camera.down' ? 'down' : 'recording';
      if (camera.state !== before) camera.changedAt = event.occurredAt;
      camera.detail = event.kind === 'camera.down' ? [d.reason, d.detail].filter(Boolean).join(': ') : null;
      this.cameras.set(key, camera);
      this.renderHealth();
    }
  }

  onAlarm(alarm) {
    const known = this.alarms.get(alarm.id);
    if (alarm.state === 'resolved') this.alarms.delete(alarm.id);
    else this.alarms.set(alarm.id, alarm);
    if (!known && alarm.state === 'active' && alarm.severity === 'critical') this.cue(alarm);
    this.renderAlarms();
  }

  /** A new critical alarm: a banner, the tab title, and a tone when sound is on. */
  cue(alarm) {
    this.banner.hidden = false;
    this.banner.textContent = `Critical alarm: ${alarm.alarm.replaceAll('-', ' ')}${alarm.door ? ` at door ${alarm.door}` : ''} (${alarm.site ?? 'central'})`;
    document.title = `(!) ${document.title.replace(/^\(!\) /, '')}`;
    if (this.sound && this.audio) {
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.value = 0.15;
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start();
      oscillator.stop(this.audio.currentTime + 0.6);
    }
  }

  siteOf(site) {
    let entry = this.sites.get(site);
    if (!entry) {
      entry = { site, lockdownGateways: new Set() };
      this.sites.set(site, entry);
    }
    return entry;
  }

  siteLocked(site) {
    return (this.sites.get(site)?.lockdownGateways.size ?? 0) > 0;
  }

  renderAll() {
    this.renderDoors();
    this.renderSites();
    this.renderRooms();
    this.renderHealth();
    this.renderAlarms();
  }

  renderDoors() {
    const doors = [...this.doors.values()].sort((a, b) =>
      doorKey(a.site, a.gateway, a.door).localeCompare(doorKey(b.site, b.gateway, b.door)),
    );
    this.doorList.replaceChildren(
      ...doors.map((door) => {
        const actions =
          this.mayRespond && door.gatewayOnline
            ? el(
                'button',
                { type: 'button', className: 'small', onclick: () => this.unlock(door) },
                'Unlock…',
              )
            : null;
        return el(
          'li',
          {
            className: `door ${tileClass(door)}`,
            dataset: { door: doorKey(door.site, door.gateway, door.door) },
          },
          el('strong', {}, door.name ?? door.door),
          el('span', {}, tileText(door)),
          el('small', {}, [door.site, door.room].filter(Boolean).join(' · ')),
          actions,
        );
      }),
    );
  }

  renderSites() {
    const sites = [...this.sites.values()].sort((a, b) => a.site.localeCompare(b.site));
    this.siteList.replaceChildren(
      ...sites.map(({ site, lockdownGateways }) => {
        const locked = lockdownGateways.size > 0;
        const label = locked ? 'End site lockdown' : 'Site lockdown…';
        return el(
          'li',
          { className: `room site${locked ? ' flagged' : ''}`, dataset: { site } },
          el('strong', {}, `Site ${site}`),
          locked ? el('span', { className: 'flag' }, 'SITE LOCKDOWN') : el('span', {}, 'no site lockdown'),
          locked ? el('small', {}, `reported by ${[...lockdownGateways].sort().join(', ')}`) : null,
          this.mayRespond
            ? el(
                'span',
                { className: 'actions' },
                el(
                  'button',
                  {
                    type: 'button',
                    className: 'small secondary',
                    'aria-label': `${label} (site ${site}, every door)`,
                    onclick: () => this.siteLockdown(site, !locked),
                  },
                  label,
                ),
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
        const flags = [
          room.roomLockdown ? 'LOCKDOWN' : null,
          this.siteLocked(room.site) ? 'SITE LOCKDOWN' : null,
          room.evacuation ? 'EVACUATION' : null,
        ]
          .filter(Boolean)
          .join(' · ');
        const actions = this.mayRespond
          ? el(
              'span',
              { className: 'actions' },
              el(
                'button',
                {
                  type: 'button',
                  className: 'small secondary',
                  onclick: () => this.roomAction(room, 'lockdown', !room.roomLockdown),
                },
                room.roomLockdown ? 'End lockdown' : 'Lockdown…',
              ),
              el(
                'button',
                {
                  type: 'button',
                  className: 'small secondary',
                  onclick: () => this.roomAction(room, 'evacuation', !room.evacuation),
                },
                room.evacuation ? 'End evacuation' : 'Evacuate…',
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

  renderHealth() {
    const gateways = [...this.gateways.values()].map((g) =>
      el(
        'li',
        { className: g.online ? 'ok' : 'bad', dataset: { gateway: `${g.site}/${g.gateway}` } },
        el('strong', {}, `${g.site} / ${g.gateway}`),
        el('span', {}, g.online ? 'online' : 'OFFLINE'),
        g.lastSeenAt ? el('small', { title: g.lastSeenAt }, `seen ${age(g.lastSeenAt)} ago`) : null,
      ),
    );
    const cameras = [...this.cameras.values()].map((c) =>
      el(
        'li',
        {
          className: c.state === 'recording' ? 'ok' : c.state === 'down' ? 'bad' : 'unknown',
          dataset: { camera: `${c.site}/${c.gateway}/${c.camera}` },
        },
        el('strong', {}, `camera ${c.camera}`),
        el('span', {}, c.state ?? 'unknown'),
        c.detail ? el('small', {}, c.detail) : null,
      ),
    );
    this.healthList.replaceChildren(...gateways, ...cameras);
  }

  renderAlarms() {
    const order = { critical: 0, warning: 1, info: 2 };
    const alarms = [...this.alarms.values()].sort(
      (a, b) => order[a.severity] - order[b.severity] || b.raisedAt.localeCompare(a.raisedAt),
    );
    if (!alarms.some((a) => a.state === 'active' && a.severity === 'critical')) this.banner.hidden = true;
    this.alarmList.replaceChildren(
      ...(alarms.length === 0
        ? [el('li', { className: 'none' }, 'No open alarms.')]
        : alarms.map((alarm) => this.alarmItem(alarm))),
    );
  }

  alarmItem(alarm) {
    const where = [alarm.site, alarm.gateway, alarm.door && `door ${alarm.door}`].filter(Boolean).join(' / ');
    const item = el(
      'li',
      { className: `alarm-item ${alarm.severity} ${alarm.state}`, dataset: { alarm: alarm.id } },
      el('strong', {}, alarm.alarm.replaceAll('-', ' ')),
      el('span', { className: 'severity' }, alarm.severity),
      el('span', {}, where || 'central'),
      el(
        'small',
        { title: alarm.raisedAt },
        `${age(alarm.raisedAt)} ago${alarm.occurrences > 1 ? ` · ${alarm.occurrences}×` : ''}${alarm.clearedAt ? ' · condition cleared' : ''}`,
      ),
      alarm.detail ? el('small', { className: 'detail' }, alarm.detail) : null,
      alarm.state === 'acknowledged'
        ? el(
            'small',
            { className: 'ack' },
            `acknowledged by ${alarm.acknowledgedBy} at ${formatTime(alarm.acknowledgedAt)}: ${alarm.ackComment}`,
          )
        : null,
    );
    if (this.mayRespond && alarm.state === 'active')
      item.append(this.alarmForm(alarm, 'acknowledge', 'Acknowledge'));
    if (this.mayRespond && alarm.state === 'acknowledged')
      item.append(this.alarmForm(alarm, 'resolve', 'Resolve'));
    return item;
  }

  alarmForm(alarm, action, label) {
    const comment = el('input', {
      name: 'comment',
      required: true,
      maxLength: 500,
      placeholder: 'comment (what was done)',
      'aria-label': `${label} comment`,
    });
    const form = el(
      'form',
      { className: 'inline', dataset: { action } },
      comment,
      el('button', { type: 'submit', className: 'small' }, label),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const updated = await api('POST', `/api/v1/alarms/${alarm.id}/${action}`, { comment: comment.value });
        this.onAlarm(updated);
      } catch (error) {
        toast(error.message, 'error');
      }
    });
    return form;
  }

  async unlock(door) {
    const reason = window.prompt(
      `Unlock door ${door.name ?? door.door} for 5 seconds. Reason (goes to the audit log):`,
    );
    if (!reason) return;
    try {
      const result = await withReauth(
        () =>
          api(
            'POST',
            `/api/v1/doors/${encodeURIComponent(door.site)}/${encodeURIComponent(door.gateway)}/${encodeURIComponent(door.door)}/unlock`,
            { seconds: 5, reason },
          ),
        'A remote unlock needs your password and a code.',
      );
      toast(
        `Door ${door.door}: ${result.status}${result.reason ? ` (${result.reason})` : ''}`,
        result.status === 'ok' ? 'success' : 'error',
      );
    } catch (error) {
      toast(error.message, 'error');
    }
  }

  roomAction(room, what, active) {
    const start = active ? 'Start' : 'End';
    // Evacuation releases every door of the site; a lockdown from a room's tile is the room's own.
    if (what === 'evacuation')
      return this.siteCommand(
        room.site,
        'evacuation',
        { active },
        `${start} evacuation of site ${room.site} (every door).`,
      );
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

registerPage({
  path: 'live',
  title: 'Live',
  roles: ['security', 'admin'],
  order: 10,
  async render(view) {
    const monitor = new LiveMonitor(view);
    try {
      await monitor.start();
    } catch (error) {
      toast(`Could not load the live view: ${error.message}`, 'error');
    }
    return () => monitor.stop();
  },
});
