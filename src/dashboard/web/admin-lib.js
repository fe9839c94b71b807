// Building blocks the administration pages share: selects, tables, sections, and a re-authenticated
// API call for sensitive changes.
import { api, el, withReauth } from './lib.js';

export const ID_PATTERN = '[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}';

export function select(name, options, value, labels = {}) {
  return el(
    'select',
    { name },
    ...options.map((option) =>
      el('option', { value: option, selected: option === value }, labels[option] ?? option),
    ),
  );
}

export function idInput(name, props = {}) {
  return el('input', { name, required: true, maxLength: 64, pattern: ID_PATTERN, ...props });
}

export function nameInput(name = 'name', props = {}) {
  return el('input', { name, required: true, maxLength: 200, ...props });
}

/** A table with a header row; `rows` are <tr> elements. */
export function grid(id, headers, rows) {
  return el(
    'table',
    { className: 'grid', id },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows),
  );
}

export function section(title, ...children) {
  return el('section', { className: 'card admin' }, el('h3', {}, title), ...children);
}

/** A state change that may need the password and a fresh code first. */
export function sensitive(method, path, body, why) {
  return withReauth(() => api(method, path, body), why);
}

/** A one-line summary of how a change reached the gateways. */
export function syncNote(sync) {
  if (!sync) return '';
  if (sync.status === 'published') return ` Sent to ${sync.gateways} gateway(s).`;
  if (sync.status === 'off') return ' Credential sync is off (no central signing key).';
  return ' The gateways could not be reached now; they catch up with the next refresh.';
}
