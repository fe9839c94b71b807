// The directory, for administrators: customers, sites, rooms, doors, readers and cameras. Each
// form creates an entry or, with an existing id, changes it.
import { grid, ID_PATTERN, idInput, nameInput, section, select } from './admin-lib.js';
import { api, el, field, formHandler, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

const optionalId = (name, placeholder) =>
  el('input', { name, maxLength: 64, pattern: ID_PATTERN, placeholder });

/** One kind of entry: its table and the form that puts one. */
function kind({ title, id, headers, rows, fields, url, body }) {
  const form = el(
    'form',
    { className: 'filters', id: `${id}-put` },
    ...fields,
    el('button', { type: 'submit' }, 'Save'),
  );
  formHandler(form, async (data) => {
    await api('PUT', url(data), body(data));
    toast(`${title}: ${data.id} saved.`, 'success');
    navigate('admin-directory');
  });
  return section(
    title,
    grid(
      `${id}-table`,
      headers,
      rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c ?? '—')))),
    ),
    form,
  );
}

const enc = encodeURIComponent;

registerPage({
  path: 'admin-directory',
  title: 'Directory',
  roles: ['admin'],
  order: 68,
  async render(view) {
    const d = await api('GET', '/api/v1/directory');
    view.append(
      el('h2', {}, 'Directory'),
      kind({
        title: 'Customers',
        id: 'customers',
        headers: ['Id', 'Name'],
        rows: d.customers.map((c) => [c.id, c.name]),
        fields: [field('Id', idInput('id')), field('Name', nameInput())],
        url: (f) => `/api/v1/directory/customers/${enc(f.id)}`,
        body: (f) => ({ name: f.name }),
      }),
      kind({
        title: 'Sites',
        id: 'sites',
        headers: ['Id', 'Name', 'Customer', 'Time zone'],
        rows: d.sites.map((s) => [s.id, s.name, s.customer, s.timezone]),
        fields: [
          field('Id', idInput('id')),
          field('Name', nameInput()),
          field('Customer', optionalId('customer')),
          field(
            'Time zone',
            el('input', { name: 'timezone', maxLength: 64, value: 'Europe/Berlin', required: true }),
          ),
        ],
        url: (f) => `/api/v1/directory/sites/${enc(f.id)}`,
        body: (f) => ({ name: f.name, customer: f.customer || null, timezone: f.timezone }),
      }),
      kind({
        title: 'Rooms',
        id: 'rooms',
        headers: ['Site', 'Id', 'Name'],
        rows: d.rooms.map((r) => [r.site, r.id, r.name]),
        fields: [field('Site', idInput('site')), field('Id', idInput('id')), field('Name', nameInput())],
        url: (f) => `/api/v1/directory/sites/${enc(f.site)}/rooms/${enc(f.id)}`,
        body: (f) => ({ name: f.name }),
      }),
      kind({
        title: 'Doors',
        id: 'doors',
        headers: ['Site', 'Id', 'Name', 'Room'],
        rows: d.doors.map((r) => [r.site, r.id, r.name, r.room]),
        fields: [
          field('Site', idInput('site')),
          field('Id', idInput('id')),
          field('Name', nameInput()),
          field('Room', optionalId('room')),
        ],
        url: (f) => `/api/v1/directory/sites/${enc(f.site)}/doors/${enc(f.id)}`,
        body: (f) => ({ name: f.name, room: f.room || null }),
      }),
      kind({
        title: 'Readers',
        id: 'readers',
        headers: ['Site', 'Id', 'Name', 'Door', 'Side', 'Model'],
        rows: d.readers.map((r) => [r.site, r.id, r.name, r.door, r.direction, r.model]),
        fields: [
          field('Site', idInput('site')),
          field('Id', idInput('id')),
          field('Name', nameInput()),
          field('Door', idInput('door')),
          field('Side', select('direction', ['entry', 'exit'], 'entry')),
          field(
            'Model profile',
            el('input', { name: 'model', maxLength: 64, pattern: '[a-z0-9][a-z0-9._\\-]{0,63}' }),
          ),
        ],
        url: (f) => `/api/v1/directory/sites/${enc(f.site)}/readers/${enc(f.id)}`,
        body: (f) => ({ name: f.name, door: f.door, direction: f.direction, model: f.model || null }),
      }),
      kind({
        title: 'Cameras',
        id: 'cameras',
        headers: ['Site', 'Id', 'Name', 'Room'],
        rows: d.cameras.map((c) => [c.site, c.id, c.name, c.room]),
        fields: [
          field('Site', idInput('site')),
          field('Id', idInput('id')),
          field('Name', nameInput()),
          field('Room', optionalId('room')),
        ],
        url: (f) => `/api/v1/directory/sites/${enc(f.site)}/cameras/${enc(f.id)}`,
        body: (f) => ({ name: f.name, room: f.room || null }),
      }),
    );
  },
});
