// The auditor's export: a time range (and optional site, door, person, kind), CSV or JSONL,
// downloaded as the signed bundle in a .tar after the password and a fresh code are confirmed.
// Verification is described in docs/audit.md; this form only asks for and saves the file.
import { ApiError, el, field, formHandler, session, toast, withReauth } from './lib.js';

/** POSTs like api(), but takes the answer as a file; errors carry the server's code (re-auth). */
async function download(body) {
  const response = await fetch('/api/v1/exports', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const name =
    /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? 'export.tar';
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

const iso = (local) => (local ? new Date(local).toISOString() : undefined);

export function exportForm() {
  const input = (name, props = {}) => el('input', { name, maxLength: 64, ...props });
  const form = el(
    'form',
    { className: 'filters', id: 'export-form' },
    field('From', input('from', { type: 'datetime-local', required: true }), 'your local time'),
    field('To', input('to', { type: 'datetime-local', required: true }), 'not included'),
    field('Site', input('site')),
    field('Door', input('door')),
    field('Person', input('person')),
    field('Kinds', input('kinds', { placeholder: 'access, door.forced' }), 'all but video when empty'),
    field(
      'Format',
      el(
        'select',
        { name: 'format' },
        el('option', { value: 'csv' }, 'CSV'),
        el('option', { value: 'jsonl' }, 'JSONL'),
      ),
    ),
    el('button', { type: 'submit' }, 'Export signed bundle'),
  );
  return formHandler(form, async (data) => {
    const body = { from: iso(data.from), to: iso(data.to), format: data.format };
    for (const name of ['site', 'door', 'person']) if (data[name].trim()) body[name] = data[name].trim();
    const kinds = data.kinds
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k);
    if (kinds.length > 0) body.kinds = kinds;
    const name = await withReauth(
      () => download(body),
      'An export of personal data needs your password and a fresh code.',
    );
    toast(`Saved ${name}; verify it as described in docs/audit.md`);
  });
}
