// The alarm list: every alarm with its severity, age and state, who acknowledged and resolved it
// with what comment; security staff acknowledge and resolve here. The filters live in the
// address (#/alarms?state=resolved&severity=critical) so that a view can be bookmarked.
import { age, api, el, field, formatTime, formHandler, session, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

const STATES = ['open', 'active', 'acknowledged', 'resolved', 'all'];
const SEVERITIES = ['', 'critical', 'warning', 'info'];
const PAGE = 100;

function select(name, options, value, labels = {}) {
  return el(
    'select',
    { name },
    ...options.map((option) =>
      el('option', { value: option, selected: option === value }, labels[option] ?? option),
    ),
  );
}

function filtersForm(params) {
  const form = el(
    'form',
    { className: 'filters', id: 'alarm-filters' },
    field('State', select('state', STATES, params.state ?? 'open')),
    field('Severity', select('severity', SEVERITIES, params.severity ?? '', { '': 'any' })),
    field(
      'Site',
      el('input', {
        name: 'site',
        value: params.site ?? '',
        maxLength: 64,
        pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]*',
      }),
    ),
    el('button', { type: 'submit' }, 'Show'),
  );
  return formHandler(form, async (data) => {
    const next = Object.fromEntries(Object.entries(data).filter(([, value]) => value !== ''));
    navigate('alarms', next);
  });
}

/** Who did it, when, and what they wrote; nothing when it has not happened. */
function step(by, at, comment) {
  if (!at) return '';
  return el('span', {}, `${by ?? 'system'}, ${formatTime(at)}`, comment ? el('br') : null, comment ?? '');
}

class AlarmList {
  constructor(view, params) {
    this.params = params;
    this.mayRespond = session.role === 'security';
    this.body = el('tbody', { id: 'alarm-rows' });
    this.more = el(
      'button',
      { type: 'button', className: 'secondary', hidden: true, id: 'alarms-older' },
      'Older',
    );
    this.more.addEventListener('click', () => this.load(this.next));
    this.empty = el('p', { className: 'empty', hidden: true }, 'No alarms match.');
    const headers = ['Raised', 'Severity', 'Alarm', 'Where', 'State', 'Acknowledged', 'Resolved'];
    if (this.mayRespond) headers.push('Action');
    view.append(
      el('h2', {}, 'Alarms'),
      filtersForm(params),
      el(
        'table',
        { className: 'grid alarms-table' },
        el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
        this.body,
      ),
      this.empty,
      el('div', { className: 'pager' }, this.more),
    );
  }

  async load(before) {
    const query = new URLSearchParams({ state: this.params.state ?? 'open', limit: String(PAGE) });
    if (this.params.severity) query.set('severity', this.params.severity);
    if (this.params.site) query.set('site', this.params.site);
    if (before) query.set('before', String(before));
    try {
      const { alarms, next } = await api('GET', `/api/v1/alarms?${query}`);
      if (!before) this.body.replaceChildren();
      for (const alarm of alarms) this.body.append(this.row(alarm));
      this.next = next;
      this.more.hidden = next === null;
      this.empty.hidden = this.body.rows.length > 0;
    } catch (error) {
      toast(`Could not load the alarms: ${error.message}`, 'error');
    }
  }

  row(alarm) {
    const where = [alarm.site, alarm.gateway, alarm.door && `door ${alarm.door}`].filter(Boolean).join(' / ');
    const state = [alarm.state, alarm.clearedAt ? `cleared ${formatTime(alarm.clearedAt)}` : 'not cleared']
      .filter(Boolean)
      .join(', ');
    const cells = [
      el(
        'td',
        { title: alarm.raisedAt },
        formatTime(alarm.raisedAt),
        el('br'),
        el('small', {}, `${age(alarm.raisedAt)} ago`),
      ),
      el('td', { className: `severity ${alarm.severity}` }, alarm.severity),
      el(
        'td',
        {},
        alarm.alarm.replaceAll('-', ' '),
        alarm.occurrences > 1 ? ` (${alarm.occurrences}×)` : '',
        alarm.detail ? el('br') : null,
        alarm.detail ? el('small', {}, alarm.detail) : null,
      ),
      el('td', {}, where || 'central'),
      el(
        'td',
        { className: 'state' },
        state,
        alarm.clearedDetail ? el('br') : null,
        alarm.clearedDetail ? el('small', {}, alarm.clearedDetail) : null,
      ),
      el('td', {}, step(alarm.acknowledgedBy, alarm.acknowledgedAt, alarm.ackComment)),
      el('td', {}, step(alarm.resolvedBy, alarm.resolvedAt, alarm.resolveComment)),
    ];
    if (this.mayRespond) cells.push(el('td', {}, this.actionForm(alarm)));
    return el(
      'tr',
      { className: `alarm-row ${alarm.severity} ${alarm.state}`, dataset: { alarm: alarm.id } },
      ...cells,
    );
  }

  actionForm(alarm) {
    const action =
      alarm.state === 'active' ? 'acknowledge' : alarm.state === 'acknowledged' ? 'resolve' : null;
    if (!action) return '';
    const label = action === 'acknowledge' ? 'Acknowledge' : 'Resolve';
    const form = el(
      'form',
      { className: 'inline', dataset: { action } },
      el('input', {
        name: 'comment',
        required: true,
        maxLength: 500,
        placeholder: action === 'acknowledge' ? 'what is being done' : 'what happened, what was done',
        'aria-label': `${label} comment`,
      }),
      el('button', { type: 'submit', className: 'small' }, label),
    );
    return formHandler(form, async ({ comment }) => {
      const updated = await api('POST', `/api/v1/alarms/${alarm.id}/${action}`, { comment });
      const row = this.body.querySelector(`tr[data-alarm="${alarm.id}"]`);
      row?.replaceWith(this.row(updated));
      toast(`Alarm ${action === 'acknowledge' ? 'acknowledged' : 'resolved'}.`, 'success');
    });
  }
}

registerPage({
  path: 'alarms',
  title: 'Alarms',
  roles: ['security', 'admin', 'auditor'],
  order: 20,
  async render(view, params) {
    const list = new AlarmList(view, params);
    await list.load();
  },
});
