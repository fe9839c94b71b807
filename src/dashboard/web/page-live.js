// The live monitor: door tiles, sites (site lockdown), rooms (occupancy, lockdown, evacuation),
// gateways and cameras, open alarms, and the event feed — first from GET /api/v1/overview, then
// kept current by the Server-Sent Events of GET /api/v1/live, which resume after a network blip
// without a gap. This page wires the sections (live-*.js) together and keeps the feed and health.
import { age, api, el, eventRow, eventTable, loadPhotos, session, toast } from './lib.js';
import { OPEN_ALARMS, OpenAlarms } from './live-alarms.js';
import { DoorTiles } from './live-door-tiles.js';
import { SitesAndRooms } from './live-sites-and-rooms.js';
import { registerPage } from './router.js';

const MAX_ROWS = 300;
const RESPONDERS = ['security'];

class LiveMonitor {
  constructor(view) {
    this.view = view;
    const mayRespond = RESPONDERS.includes(session.role);
    this.doors = new DoorTiles(mayRespond);
    this.sitesAndRooms = new SitesAndRooms(mayRespond);
    this.alarms = new OpenAlarms(mayRespond);
    this.gateways = new Map();
    this.cameras = new Map();
    this.seen = 0;
    this.baseline = 0;
    this.build();
  }

  build() {
    this.healthList = el('ul', { id: 'health', className: 'health' });
    const events = eventTable('events');
    this.feed = events.tBodies[0];
    this.empty = el(
      'p',
      { id: 'empty', className: 'empty' },
      'No events yet. Present a badge at a door (or run npx identgate sim badge …).',
    );
    this.view.append(
      this.alarms.banner,
      el(
        'div',
        { className: 'live-grid' },
        el(
          'section',
          { 'aria-labelledby': 'doors-title' },
          el('h2', { id: 'doors-title' }, 'Doors'),
          this.doors.list,
        ),
        el(
          'section',
          { 'aria-labelledby': 'alarms-title' },
          el('h2', { id: 'alarms-title' }, 'Open alarms ', this.alarms.soundToggle),
          this.alarms.list,
        ),
        el(
          'section',
          { 'aria-labelledby': 'rooms-title' },
          el('h2', { id: 'rooms-title' }, 'Sites and rooms'),
          this.sitesAndRooms.siteList,
          this.sitesAndRooms.roomList,
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
        events,
        this.empty,
      ),
    );
  }

  async start() {
    const [overview, alarms] = await Promise.all([
      api('GET', '/api/v1/overview'),
      api('GET', OPEN_ALARMS),
      loadPhotos(),
    ]);
    this.baseline = overview.lastIngestNo;
    this.doors.load(overview.doors);
    this.sitesAndRooms.load(overview);
    for (const g of overview.gateways) this.gateways.set(`${g.site}/${g.gateway}`, { ...g });
    for (const c of overview.cameras) this.cameras.set(`${c.site}/${c.gateway}/${c.camera}`, { ...c });
    this.alarms.load(alarms.alarms);
    this.renderAll();
    this.connect();
    this.ticker = setInterval(() => this.alarms.render(), 15_000);
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
        this.alarms.reload();
        loadPhotos().catch(() => {});
      }
    });
    this.source.addEventListener('error', () => set('reconnecting…', 'reconnecting'));
    this.source.addEventListener('event', (message) => this.onEvent(JSON.parse(message.data)));
    this.source.addEventListener('alarm', (message) => this.alarms.onAlarm(JSON.parse(message.data)));
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
    this.doors.apply(event);
    this.sitesAndRooms.apply(event);
    const gatewayKey = `${event.site}/${event.gateway}`;
    const d = event.data ?? {};
    if (
      event.kind === 'gateway.online' ||
      event.kind === 'gateway.offline' ||
      event.kind === 'gateway.heartbeat'
    ) {
      const gateway = this.gateways.get(gatewayKey) ?? { site: event.site, gateway: event.gateway };
      this.sitesAndRooms.addSite(event.site);
      gateway.online = event.kind !== 'gateway.offline';
      gateway.lastSeenAt = event.occurredAt;
      this.gateways.set(gatewayKey, gateway);
      this.doors.setGatewayOnline(event.site, event.gateway, gateway.online);
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

  renderAll() {
    this.doors.render();
    this.sitesAndRooms.render();
    this.renderHealth();
    this.alarms.render();
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
