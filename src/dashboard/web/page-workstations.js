// Ident workstations: per workstation, who is present in its room (and until when the presence
// lease runs), the last login check with its answer, and its lock agent (last report, locks owed). Refreshed on every live event (badges
// change presence) and every few seconds (login checks are not events).
import { age, api, el, formatTime, toast } from './lib.js';
import { registerPage } from './router.js';

function checkCell(check) {
  if (!check) return el('td', { className: 'muted' }, 'no login yet');
  const verdict = check.allow ? 'allowed' : `denied: ${check.reason}`;
  return el(
    'td',
    { className: check.allow ? 'ok' : 'bad', title: formatTime(check.at) },
    `${check.user ?? 'a name that is nobody’s'} ${verdict} (${age(check.at)} ago)`,
  );
}

function agentCell(workstation) {
  const owed = workstation.owedLocks
    ? `; ${workstation.owedLocks} lock${workstation.owedLocks === 1 ? '' : 's'} not confirmed`
    : '';
  if (!workstation.agentSeenAt)
    return el('td', { className: owed ? 'bad' : 'muted' }, `never reported${owed}`);
  if (workstation.shutDownAt)
    return el(
      'td',
      { className: 'muted', title: formatTime(workstation.shutDownAt) },
      `shut down ${age(workstation.shutDownAt)} ago`,
    );
  const quietMs = Date.now() - Date.parse(workstation.agentSeenAt);
  return el(
    'td',
    { className: quietMs > 5 * 60_000 || owed ? 'bad' : 'ok', title: formatTime(workstation.agentSeenAt) },
    `reported ${age(workstation.agentSeenAt)} ago${owed}`,
  );
}

function row(workstation) {
  const present = workstation.present.length
    ? workstation.present
        .map((p) => `${p.person} since ${formatTime(p.since)}, lease until ${formatTime(p.leaseUntil)}`)
        .join('; ')
    : 'nobody';
  return el(
    'tr',
    { dataset: { workstation: workstation.id, state: workstation.lastCheck?.allow ? 'allowed' : 'denied' } },
    el('td', {}, workstation.name),
    el('td', {}, `${workstation.site}/${workstation.room}`),
    el('td', {}, present),
    checkCell(workstation.lastCheck),
    agentCell(workstation),
  );
}

registerPage({
  path: 'workstations',
  title: 'Workstations',
  roles: ['security', 'admin'],
  order: 25,
  async render(view) {
    const body = el('tbody', { id: 'workstations-body' });
    view.replaceChildren(
      el('h1', {}, 'Workstations'),
      el('p', { className: 'muted' }, 'Login is allowed only to someone present in the workstation’s room.'),
      el(
        'table',
        { className: 'table' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', {}, 'Workstation'),
            el('th', {}, 'Room'),
            el('th', {}, 'Present'),
            el('th', {}, 'Last login check'),
            el('th', {}, 'Lock agent'),
          ),
        ),
        body,
      ),
    );
    const load = async () => {
      try {
        const { workstations } = await api('GET', '/api/v1/workstations');
        body.replaceChildren(...workstations.map(row));
        if (workstations.length === 0)
          body.replaceChildren(el('tr', {}, el('td', { colSpan: 5 }, 'No workstation registered.')));
      } catch (error) {
        toast(`Could not load the workstations: ${error.message}`, 'error');
      }
    };
    await load();
    const source = new EventSource('/api/v1/live?recent=0');
    source.addEventListener('event', () => load());
    const timer = setInterval(load, 5000);
    return () => {
      clearInterval(timer);
      source.close();
    };
  },
});
