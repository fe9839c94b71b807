// The live page: loads recent events, then follows /api/v1/live (Server-Sent Events).
// Everything is rendered with textContent: event data is never interpreted as HTML.

const MAX_ROWS = 500;
const eventsBody = document.getElementById('events');
const doorsList = document.getElementById('doors');
const connection = document.getElementById('connection');
const empty = document.getElementById('empty');
const doors = new Map();
let lastIngestNo = 0;

const LABELS = {
  'access.granted': 'access granted',
  'access.denied': 'access denied',
  'door.unlocked': 'unlocked',
  'door.locked': 'locked',
  'door.opened': 'opened',
  'door.closed': 'closed',
  'door.forced': 'DOOR FORCED',
  'door.held-open': 'HELD OPEN',
  'gateway.online': 'gateway online',
  'gateway.offline': 'gateway offline',
  'alarm.raised': 'ALARM',
  'alarm.cleared': 'alarm cleared',
  'compliance.expiring': 'compliance expiring',
  'room.occupancy': 'occupancy',
  'lockdown.changed': 'lockdown',
  'evacuation.changed': 'evacuation',
};

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (className) td.className = className;
  return td;
}

function detail(event) {
  const d = event.data ?? {};
  switch (event.kind) {
    case 'access.denied':
      return [d.reason?.replaceAll('-', ' '), d.detail].filter(Boolean).join(': ');
    case 'access.granted':
      return `unlocked for ${Math.round((d.unlockMs ?? 0) / 1000)} s`;
    case 'door.unlocked':
      return `${d.cause}, ${Math.round((d.durationMs ?? 0) / 1000)} s`;
    case 'door.closed':
    case 'door.held-open':
      return `open ${Math.round((d.openMs ?? 0) / 1000)} s`;
    case 'door.opened':
      return d.authorised ? 'authorised' : 'not authorised';
    case 'alarm.raised':
    case 'alarm.cleared':
      return [d.alarm?.replaceAll('-', ' '), d.detail].filter(Boolean).join(': ');
    case 'compliance.expiring':
      return `${d.requirement?.replaceAll('-', ' ')} lapses on ${d.expiresOn} (${d.daysLeft} days)`;
    case 'room.occupancy':
      return `${d.room}: ${d.occupants} inside`;
    case 'lockdown.changed':
      return `${d.room ? `room ${d.room}` : 'whole site'} ${d.active ? 'locked down' : 'released'}`;
    case 'evacuation.changed':
      return d.active ? 'all doors released' : 'ended';
    default:
      return '';
  }
}

function severity(event) {
  const { kind, data } = event;
  if (kind === 'door.forced' || kind === 'door.held-open') return 'alarm';
  if (kind === 'alarm.raised') return data?.severity === 'critical' ? 'alarm' : 'denied';
  if (kind === 'access.denied' || kind === 'compliance.expiring') return 'denied';
  if (kind === 'access.granted') return 'granted';
  return 'info';
}

function row(event) {
  const tr = document.createElement('tr');
  tr.className = `event ${severity(event)}`;
  tr.dataset.id = event.id;
  tr.dataset.kind = event.kind;
  const when = new Date(event.occurredAt);
  const time = cell(when.toLocaleTimeString(), 'time');
  time.title = event.occurredAt;
  tr.append(
    time,
    cell(`${event.site} / ${event.gateway}`),
    cell(event.door ?? ''),
    cell(LABELS[event.kind] ?? event.kind, 'kind'),
    cell([event.person ?? event.data?.person, event.data?.badge].filter(Boolean).join(' · ')),
    cell(detail(event), 'detail'),
  );
  return tr;
}

function updateDoor(event) {
  if (!event.door) return;
  const key = `${event.site}/${event.gateway}/${event.door}`;
  const state = doors.get(key) ?? { name: event.door, lock: 'locked', contact: 'closed', alarm: null };
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
      state.alarm = 'held open';
      break;
    default:
      break;
  }
  doors.set(key, state);
}

function renderDoors() {
  doorsList.replaceChildren(
    ...[...doors.entries()].map(([key, state]) => {
      const li = document.createElement('li');
      li.className = `door ${state.alarm ? 'alarm' : state.lock}`;
      li.dataset.door = key;
      const name = document.createElement('strong');
      name.textContent = state.name;
      const status = document.createElement('span');
      status.textContent = state.alarm ? `ALARM: ${state.alarm}` : `${state.lock}, ${state.contact}`;
      li.append(name, status);
      return li;
    }),
  );
}

function add(events, { live }) {
  for (const event of events) {
    if (event.ingestNo <= lastIngestNo) continue;
    lastIngestNo = event.ingestNo;
    updateDoor(event);
    const tr = row(event);
    if (live) tr.classList.add('new');
    eventsBody.prepend(tr);
  }
  while (eventsBody.rows.length > MAX_ROWS) eventsBody.deleteRow(eventsBody.rows.length - 1);
  empty.hidden = eventsBody.rows.length > 0;
  renderDoors();
}

function setConnection(text, state) {
  connection.textContent = text;
  connection.dataset.state = state;
}

async function start() {
  try {
    const response = await fetch('/api/v1/events?limit=100', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { events } = await response.json();
    add(events.reverse(), { live: false });
  } catch (error) {
    setConnection(`could not load events: ${error.message}`, 'error');
  }
  const source = new EventSource(`/api/v1/live?after=${lastIngestNo}`);
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('error', () => setConnection('reconnecting…', 'reconnecting'));
  source.addEventListener('event', (message) => add([JSON.parse(message.data)], { live: true }));
}

start();
