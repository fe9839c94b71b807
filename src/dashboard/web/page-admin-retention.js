// Retention policies and legal holds, for administrators: what each data class keeps, the
// policies per scope, holds with their case reference, and the latest deletions. Changes ask for
// a fresh re-authentication.
import { grid, ID_PATTERN, section, select, sensitive } from './admin-lib.js';
import { api, el, field, formatTime, formHandler, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

const WHY = 'Changing retention needs your password and a fresh code.';
const reload = () => navigate('admin-retention');

function scopeLabel(p) {
  return p.scope === 'global' ? 'every site' : `${p.scope} ${p.scopeId}`;
}

function policyForm(overview) {
  const classes = overview.classes.map((c) => c.dataClass);
  const form = el(
    'form',
    { className: 'filters', id: 'policy-set' },
    field('Data', select('dataClass', classes, classes[0])),
    field('Scope', select('scope', ['global', 'customer', 'site'], 'global')),
    field('Customer or site', el('input', { name: 'scopeId', maxLength: 64, pattern: ID_PATTERN })),
    field('Days', el('input', { name: 'days', type: 'number', min: 1, max: 3650, required: true })),
    el('button', { type: 'submit' }, 'Set policy'),
  );
  return formHandler(form, async (data) => {
    const body = { dataClass: data.dataClass, scope: data.scope, days: Number(data.days) };
    if (data.scope !== 'global') body.scopeId = data.scopeId;
    const policy = await sensitive('PUT', '/api/v1/retention/policies', body, WHY);
    toast(`${policy.dataClass} is kept ${policy.days} days for ${scopeLabel(policy)}.`, 'success');
    reload();
  });
}

function holdForm() {
  const form = el(
    'form',
    { className: 'filters', id: 'hold-add' },
    field(
      'Site',
      el('input', { name: 'site', maxLength: 64, pattern: ID_PATTERN, placeholder: 'empty: every site' }),
    ),
    field('From', el('input', { name: 'from', type: 'datetime-local', required: true })),
    field('To', el('input', { name: 'to', type: 'datetime-local', required: true })),
    field(
      'Case reference',
      el('input', { name: 'reason', required: true, maxLength: 500 }),
      'a reference, not a name',
    ),
    el('button', { type: 'submit' }, 'Place hold'),
  );
  return formHandler(form, async (data) => {
    const body = {
      from: new Date(data.from).toISOString(),
      to: new Date(data.to).toISOString(),
      reason: data.reason,
    };
    if (data.site) body.site = data.site;
    const hold = await sensitive('POST', '/api/v1/retention/holds', body, WHY);
    toast(`Legal hold ${hold.id} placed.`, 'success');
    reload();
  });
}

registerPage({
  path: 'admin-retention',
  title: 'Retention',
  roles: ['admin'],
  order: 75,
  async render(view) {
    const [overview, { holds }, { entries }] = await Promise.all([
      api('GET', '/api/v1/retention/policies'),
      api('GET', '/api/v1/retention/holds?includeReleased=true'),
      api('GET', '/api/v1/retention/deletion-log?limit=20'),
    ]);
    const classRows = overview.classes.map((c) =>
      el(
        'tr',
        {},
        el('td', {}, c.dataClass),
        el('td', {}, c.description),
        el('td', {}, c.scopes.join(', ')),
        el('td', {}, c.active ? 'yes' : 'not in this build'),
      ),
    );
    const remove = (p) => async () => {
      try {
        const body = {
          dataClass: p.dataClass,
          scope: p.scope,
          ...(p.scope === 'global' ? {} : { scopeId: p.scopeId }),
        };
        await sensitive('POST', '/api/v1/retention/policies/remove', body, WHY);
        toast('Policy removed; the next wider scope applies.', 'success');
        reload();
      } catch (error) {
        toast(error.message, 'error');
      }
    };
    const policyRows = overview.policies.map((p) =>
      el(
        'tr',
        {},
        el('td', {}, p.dataClass),
        el('td', {}, scopeLabel(p)),
        el('td', {}, String(p.days)),
        el('td', {}, `${p.updatedBy}, ${formatTime(p.updatedAt)}`),
        el(
          'td',
          {},
          el('button', { type: 'button', className: 'small secondary', onclick: remove(p) }, 'Remove'),
        ),
      ),
    );
    const release = (hold) => async () => {
      try {
        await sensitive('POST', `/api/v1/retention/holds/${hold.id}/release`, undefined, WHY);
        toast(`Legal hold ${hold.id} released.`, 'success');
        reload();
      } catch (error) {
        toast(error.message, 'error');
      }
    };
    const holdRows = holds.map((h) =>
      el(
        'tr',
        { dataset: { hold: h.id } },
        el('td', {}, String(h.id)),
        el('td', {}, h.site ?? 'every site'),
        el('td', {}, `${formatTime(h.from)} – ${formatTime(h.to)}`),
        el('td', {}, h.reason),
        el('td', {}, `${h.createdBy}, ${formatTime(h.createdAt)}`),
        el(
          'td',
          {},
          h.releasedAt
            ? `released by ${h.releasedBy}, ${formatTime(h.releasedAt)}`
            : el('button', { type: 'button', className: 'small secondary', onclick: release(h) }, 'Release'),
        ),
      ),
    );
    const logRows = entries.map((e) =>
      el(
        'tr',
        {},
        el('td', {}, formatTime(e.startedAt)),
        el('td', {}, e.dataClass),
        el('td', {}, e.site ?? e.scope),
        el('td', {}, String(e.count)),
        el('td', {}, e.method),
        el('td', {}, e.dryRun ? 'dry run' : ''),
      ),
    );
    view.append(
      el('h2', {}, 'Retention'),
      el(
        'p',
        {},
        `Without a policy, data is kept ${overview.defaultDays} days. The most specific policy (site, then customer, then global) wins.`,
      ),
      section('Data classes', grid('retention-classes', ['Data', 'What', 'Scopes', 'Kept'], classRows)),
      section(
        'Policies',
        grid('retention-policies', ['Data', 'Scope', 'Days', 'Changed', ''], policyRows),
        policyForm(overview),
      ),
      section(
        'Legal holds',
        grid('retention-holds', ['Id', 'Site', 'Span', 'Reference', 'Placed', 'State'], holdRows),
        holdForm(),
      ),
      section(
        'Latest deletions',
        grid('retention-log', ['Run', 'Data', 'Where', 'Deleted', 'How', ''], logRows),
      ),
    );
  },
});
