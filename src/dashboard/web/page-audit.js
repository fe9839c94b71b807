// The audit log: who did what in the dashboard and the CLI, newest first, filtered by action
// (a prefix such as alarm.) and actor (staff:alice, or staff: for all staff), with "Older" pages.
// The filters live in the address (#/audit?action=door.) so that a view can be bookmarked.
import { exportForm } from './audit-export-form.js';
import { api, el, field, formatTime, formHandler, session, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

const ACTION_HINTS = [
  'alarm.',
  'door.remote-unlock',
  'site.lockdown',
  'site.evacuation',
  'events.search',
  'staff.',
  'retention.',
  'person.erase',
  'audit.export',
];

function filtersForm(params) {
  const form = el(
    'form',
    { className: 'filters', id: 'audit-filters' },
    field(
      'Action',
      el('input', { name: 'action', value: params.action ?? '', maxLength: 64, list: 'audit-actions' }),
      'a prefix, e.g. alarm.',
    ),
    el('datalist', { id: 'audit-actions' }, ...ACTION_HINTS.map((value) => el('option', { value }))),
    field(
      'Actor',
      el('input', { name: 'actor', value: params.actor ?? '', maxLength: 200, placeholder: 'staff:alice' }),
      'exact, or staff: for every staff member',
    ),
    el('button', { type: 'submit' }, 'Show'),
  );
  return formHandler(form, async (data) => {
    const next = Object.fromEntries(
      Object.entries(data)
        .map(([name, value]) => [name, value.trim()])
        .filter(([, value]) => value !== ''),
    );
    navigate('audit', next);
  });
}

/** Details as one readable line: key=value, nested values as JSON text (never markup). */
function detailText(details) {
  return Object.entries(details ?? {})
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' · ');
}

class AuditList {
  constructor(view, params) {
    this.params = params;
    this.body = el('tbody', { id: 'audit-rows' });
    this.more = el(
      'button',
      { type: 'button', className: 'secondary', hidden: true, id: 'audit-older' },
      'Older',
    );
    this.more.addEventListener('click', () => this.load(this.next));
    this.empty = el('p', { className: 'empty', hidden: true }, 'No entries match.');
    view.append(
      el('h2', {}, 'Audit log'),
      filtersForm(params),
      el(
        'table',
        { className: 'grid audit-table' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...['Time', 'Actor', 'Action', 'Target', 'Details'].map((h) => el('th', { scope: 'col' }, h)),
          ),
        ),
        this.body,
      ),
      this.empty,
      el('div', { className: 'pager' }, this.more),
    );
  }

  async load(before) {
    const query = new URLSearchParams({ limit: '100' });
    if (this.params.action) query.set('action', this.params.action);
    if (this.params.actor) query.set('actor', this.params.actor);
    if (before) query.set('before', String(before));
    try {
      const { entries, next } = await api('GET', `/api/v1/audit?${query}`);
      for (const entry of entries) {
        this.body.append(
          el(
            'tr',
            { dataset: { id: entry.id, action: entry.action } },
            el('td', { className: 'time', title: entry.at }, formatTime(entry.at)),
            el('td', {}, entry.actor),
            el('td', {}, entry.action),
            el('td', {}, entry.target ?? ''),
            el('td', { className: 'detail' }, detailText(entry.details)),
          ),
        );
      }
      this.next = next;
      this.more.hidden = next === null;
      this.empty.hidden = this.body.rows.length > 0;
    } catch (error) {
      toast(`Could not load the audit log: ${error.message}`, 'error');
    }
  }
}

registerPage({
  path: 'audit',
  title: 'Audit log',
  roles: ['auditor', 'admin'],
  order: 60,
  async render(view, params) {
    if (session.role === 'auditor') view.append(el('h2', {}, 'Export the access log'), exportForm());
    const list = new AuditList(view, params);
    await list.load();
  },
});
