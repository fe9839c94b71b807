// The event search: a time range and filters (site, gateway, door, person, kind or kind prefix,
// reason), newest first, with "Older" pages. The filters live in the address
// (#/events?door=main&kind=access.denied) so that a search can be bookmarked and shared.
import { api, EVENT_LABELS, el, eventRow, eventTable, field, formHandler, loadPhotos, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

/** Door events the gateway links a clip and a snapshot to (docs/video.md). */
const WITH_FOOTAGE = new Set(['door.forced', 'door.held-open', 'access.denied']);
const FILTERS = ['from', 'to', 'site', 'gateway', 'door', 'person', 'kind', 'reason'];
const ID = '[A-Za-z0-9][A-Za-z0-9_\\-]*';
const KIND_HINTS = [
  'access.',
  'door.',
  'alarm.',
  'gateway.',
  'camera.',
  'video.',
  ...Object.keys(EVENT_LABELS),
];
const REASON_HINTS = [
  'unknown-badge',
  'badge-revoked',
  'badge-expired',
  'outside-schedule',
  'wrong-code',
  'code-reused',
  'code-timeout',
  'locked-out',
  'anti-passback',
  'compliance-lapsed',
  'lockdown',
  'clock-unsynchronised',
  'two-person-rule',
  'first-person-rule',
  'credentials-stale',
];

/** ISO time (from the address) to the value of a datetime-local input, in the browser's zone. */
function toLocalInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function datalist(id, values) {
  return el('datalist', { id }, ...values.map((value) => el('option', { value })));
}

function searchForm(params) {
  const text = (name, label, extra = {}) =>
    field(label, el('input', { name, value: params[name] ?? '', maxLength: 64, ...extra }));
  const form = el(
    'form',
    { className: 'filters', id: 'event-filters' },
    field('From', el('input', { name: 'from', type: 'datetime-local', value: toLocalInput(params.from) })),
    field('To', el('input', { name: 'to', type: 'datetime-local', value: toLocalInput(params.to) })),
    text('site', 'Site', { pattern: ID }),
    text('gateway', 'Gateway', { pattern: ID }),
    text('door', 'Door', { pattern: ID }),
    text('person', 'Person', { pattern: ID }),
    text('kind', 'Kind', { list: 'event-kinds', placeholder: 'access. or access.denied' }),
    text('reason', 'Reason', { list: 'deny-reasons' }),
    datalist('event-kinds', KIND_HINTS),
    datalist('deny-reasons', REASON_HINTS),
    el('button', { type: 'submit' }, 'Search'),
  );
  return formHandler(form, async (data) => {
    const next = {};
    for (const name of FILTERS) {
      const value = (data[name] ?? '').trim();
      if (!value) continue;
      next[name] = name === 'from' || name === 'to' ? new Date(value).toISOString() : value;
    }
    navigate('events', next);
  });
}

function withFootageLink(row, event) {
  const duress = event.kind === 'alarm.raised' && event.data?.alarm === 'duress';
  if (!WITH_FOOTAGE.has(event.kind) && !duress) return row;
  row.lastElementChild?.append(
    ' ',
    el(
      'a',
      { href: `#/footage?${new URLSearchParams({ event: event.id })}`, className: 'footage-link' },
      'Clip',
    ),
  );
  return row;
}

class EventSearch {
  constructor(view, params) {
    this.filters = Object.fromEntries(
      FILTERS.filter((name) => params[name]).map((name) => [name, params[name]]),
    );
    this.table = eventTable('search-results');
    this.body = this.table.querySelector('tbody');
    this.more = el(
      'button',
      { type: 'button', className: 'secondary', hidden: true, id: 'events-older' },
      'Older',
    );
    this.more.addEventListener('click', () => this.load(this.next));
    this.status = el('p', { className: 'hint', id: 'search-status', role: 'status' });
    view.append(
      el('h2', {}, 'Event search'),
      searchForm(params),
      this.status,
      this.table,
      el('div', { className: 'pager' }, this.more),
    );
  }

  async load(before) {
    const query = new URLSearchParams({ ...this.filters, limit: '100' });
    if (before) query.set('before', String(before));
    try {
      const [{ events, next }] = await Promise.all([
        api('GET', `/api/v1/events?${query}`),
        before ? undefined : loadPhotos(),
      ]);
      for (const event of events) this.body.append(withFootageLink(eventRow(event), event));
      this.next = next;
      this.more.hidden = next === null;
      const shown = this.body.rows.length;
      this.status.textContent =
        shown === 0 ? 'No events match.' : `${shown} events${next === null ? '' : ' (more are older)'}`;
    } catch (error) {
      this.status.textContent = '';
      toast(`Search failed: ${error.message}`, 'error');
    }
  }
}

registerPage({
  path: 'events',
  title: 'Events',
  roles: ['security', 'auditor'],
  order: 30,
  async render(view, params) {
    const search = new EventSearch(view, params);
    await search.load();
  },
});
