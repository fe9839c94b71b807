// Shared by every page: the API client (session cookie + CSRF header), DOM building without
// innerHTML (data is never interpreted as markup), notifications, re-authentication, formatting.

export const session = { authenticated: false, role: null, login: null, csrfToken: '', stage: null };

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

export async function loadSession() {
  const response = await fetch('/api/v1/session', { headers: { accept: 'application/json' } });
  const body = await response.json();
  Object.assign(session, { authenticated: false, role: null, login: null, csrfToken: '', stage: null }, body);
  return session;
}

/** Calls the API; state changes carry the CSRF token. Throws ApiError with the server's message. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = session.csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith('/api/v1/auth/') && !path.startsWith('/api/v1/setup')) {
      window.dispatchEvent(new CustomEvent('identgate:signed-out'));
    }
    throw new ApiError(response.status, parsed);
  }
  return parsed;
}

/** Sends a file as the raw request body (a person's photo), with the CSRF token. */
export async function upload(method, path, file) {
  const response = await fetch(path, {
    method,
    headers: {
      accept: 'application/json',
      'content-type': file.type || 'application/octet-stream',
      'x-csrf-token': session.csrfToken,
    },
    body: file,
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/**
 * Runs a sensitive action; when the server asks for a fresh re-authentication, asks for the
 * password and a code, then tries once more.
 */
export async function withReauth(action, why) {
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'IDG_AUTH_REAUTH') throw error;
    if (!(await reauthenticate(why)))
      throw new ApiError(403, { message: 'not confirmed', code: 'IDG_AUTH_REAUTH' });
    return action();
  }
}

export function reauthenticate(why) {
  const dialog = document.getElementById('reauth');
  const form = document.getElementById('reauth-form');
  const error = document.getElementById('reauth-error');
  document.getElementById('reauth-why').textContent =
    why ?? 'This action needs your password and a fresh code.';
  error.textContent = '';
  form.reset();
  return new Promise((resolve) => {
    const done = (ok) => {
      form.removeEventListener('submit', submit);
      cancel.removeEventListener('click', onCancel);
      dialog.close();
      resolve(ok);
    };
    const submit = async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      try {
        await api('POST', '/api/v1/auth/reauth', { password: data.get('password'), code: data.get('code') });
        done(true);
      } catch (failure) {
        error.textContent = failure.message;
      }
    };
    const cancel = document.getElementById('reauth-cancel');
    const onCancel = () => done(false);
    form.addEventListener('submit', submit);
    cancel.addEventListener('click', onCancel);
    dialog.showModal();
  });
}

/** el('td', { className: 'x', dataset: { id: 1 } }, 'text', child) — text is always text. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key in node && key !== 'list' && key !== 'form') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = el('div', { className: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 10_000 : 5_000);
}

/** A labelled form field. */
export function field(label, input, hint) {
  return el(
    'label',
    { className: 'field' },
    el('span', {}, label),
    input,
    hint ? el('small', {}, hint) : null,
  );
}

/** Submits a form through `handler(data)`, showing errors beside it and disabling it meanwhile. */
export function formHandler(form, handler) {
  const error = el('p', { className: 'error', role: 'alert' });
  form.append(error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    try {
      await handler(Object.fromEntries(new FormData(form)));
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
  return form;
}

export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}

export function age(iso, now = Date.now()) {
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d`;
}

export const EVENT_LABELS = {
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
  'alarm.conditions': 'alarm conditions reported',
  'compliance.expiring': 'compliance expiring',
  'room.occupancy': 'occupancy',
  'lockdown.changed': 'lockdown',
  'evacuation.changed': 'evacuation',
};

const words = (text) => (text ?? '').replaceAll('-', ' ');

/** One line explaining an event, reasons included. */
export function eventDetail(event) {
  const d = event.data ?? {};
  switch (event.kind) {
    case 'access.denied':
      return [words(d.reason), d.detail].filter(Boolean).join(': ');
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
      return [words(d.alarm), d.detail].filter(Boolean).join(': ');
    case 'alarm.conditions':
      return `${d.held} held${d.conditions?.length === d.held ? '' : ', too many to list'}`;
    case 'compliance.expiring':
      return `${words(d.requirement)} lapses on ${d.expiresOn} (${d.daysLeft} days)`;
    case 'room.occupancy':
      return `${d.room}: ${d.occupants} inside`;
    case 'lockdown.changed':
      return `${d.room ? `room ${d.room}` : 'whole site'} ${d.active ? 'locked down' : 'released'}`;
    case 'evacuation.changed':
      return d.active ? 'all doors released' : 'ended';
    default:
      return d.detail ?? '';
  }
}

export function eventSeverity(event) {
  const { kind, data } = event;
  if (kind === 'door.forced' || kind === 'door.held-open') return 'alarm';
  if (kind === 'alarm.raised') return data?.severity === 'critical' ? 'alarm' : 'denied';
  if (kind === 'access.denied' || kind === 'compliance.expiring') return 'denied';
  if (kind === 'access.granted') return 'granted';
  return 'info';
}

/** Who has a photo (person → version), for the roles that see photos; asked for once per page. */
const photoVersions = new Map();
const PHOTO_ROLES = ['security', 'admin'];

export async function loadPhotos() {
  photoVersions.clear();
  if (!PHOTO_ROLES.includes(session.role)) return;
  const { photos } = await api('GET', '/api/v1/photos');
  for (const p of photos) photoVersions.set(p.person, p.version);
}

function personPhoto(person, name) {
  const version = person ? photoVersions.get(person) : undefined;
  if (!version) return undefined;
  return el('img', {
    className: 'photo',
    src: `/api/v1/people/${encodeURIComponent(person)}/photo?v=${encodeURIComponent(version)}`,
    alt: `Photo of ${name ?? person}`,
    width: 40,
    height: 40,
    loading: 'lazy',
  });
}

/** A table row for an event, as the live feed and the search show it. */
export function eventRow(event) {
  const time = el('td', { className: 'time', title: event.occurredAt }, formatTime(event.occurredAt));
  const person = event.person ?? event.data?.person;
  const who = [event.personName ?? person, event.data?.badge].filter(Boolean).join(' · ');
  return el(
    'tr',
    { className: `event ${eventSeverity(event)}`, dataset: { id: event.id, kind: event.kind } },
    time,
    el('td', {}, `${event.site} / ${event.gateway}`),
    el('td', {}, event.door ?? ''),
    el('td', { className: 'kind' }, EVENT_LABELS[event.kind] ?? event.kind),
    el('td', { className: 'who' }, personPhoto(person, event.personName), who),
    el('td', { className: 'detail' }, eventDetail(event)),
  );
}

export function eventTable(bodyId) {
  return el(
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
    el('tbody', { id: bodyId }),
  );
}
