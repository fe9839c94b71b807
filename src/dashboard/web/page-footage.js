// Footage: a camera's recording for a time range, or the clip and snapshot a gateway linked to a
// door event (#/footage?event=<id>). The browser plays the MP4 itself (range requests, no
// transcoding); the dashboard fetches it from the gateway and writes every view to the audit log.
import { el, field, formHandler, toast } from './lib.js';
import { navigate, registerPage } from './router.js';

const ID = '[A-Za-z0-9][A-Za-z0-9_\\-]*';
/** Counts renders: a check still running when the page was left must not add a player to the next one. */
let renders = 0;

function toLocalInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** Asks for the first byte, so a refusal (no footage, no right) is shown as text, not a blank player. */
async function check(url) {
  const response = await fetch(url, { headers: { range: 'bytes=0-0' } });
  if (response.ok) return null;
  try {
    return (await response.json()).message ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function player(view, url, label) {
  const render = renders;
  const status = el('p', { className: 'hint', role: 'status' }, `Fetching ${label} from the gateway …`);
  view.append(status);
  const problem = await check(url);
  if (render !== renders) return false;
  if (problem) {
    status.textContent = `${label}: ${problem}`;
    return false;
  }
  status.textContent = label;
  view.append(el('video', { className: 'footage', controls: true, preload: 'metadata', src: url }));
  return true;
}

function rangeForm(params) {
  const text = (name, label) =>
    field(
      label,
      el('input', { name, value: params[name] ?? '', maxLength: 64, pattern: ID, required: true }),
    );
  const form = el(
    'form',
    { className: 'filters', id: 'footage-range' },
    text('site', 'Site'),
    text('gateway', 'Gateway'),
    text('camera', 'Camera'),
    field(
      'From',
      el('input', { name: 'from', type: 'datetime-local', required: true, value: toLocalInput(params.from) }),
    ),
    field(
      'To',
      el('input', { name: 'to', type: 'datetime-local', required: true, value: toLocalInput(params.to) }),
    ),
    el('button', { type: 'submit' }, 'Play'),
  );
  return formHandler(form, async (data) => {
    navigate('footage', {
      site: data.site.trim(),
      gateway: data.gateway.trim(),
      camera: data.camera.trim(),
      from: new Date(data.from).toISOString(),
      to: new Date(data.to).toISOString(),
    });
  });
}

registerPage({
  path: 'footage',
  title: 'Footage',
  roles: ['security', 'auditor'],
  order: 35,
  async render(view, params) {
    renders += 1;
    view.append(el('h2', {}, 'Footage'));
    try {
      if (params.event) {
        const base = `/api/v1/events/${encodeURIComponent(params.event)}`;
        const camera = params.camera ? `?camera=${encodeURIComponent(params.camera)}` : '';
        view.append(el('p', {}, `Footage linked to event ${params.event}`));
        if (!(await player(view, `${base}/clip${camera}`, 'Clip'))) return;
        view.append(
          el('img', { className: 'footage', alt: 'Snapshot at the event', src: `${base}/snapshot${camera}` }),
        );
        return;
      }
      view.append(
        el(
          'p',
          { className: 'hint' },
          'At most 30 minutes at a time. Every view is written to the audit log.',
        ),
        rangeForm(params),
      );
      const { site, gateway, camera, from, to } = params;
      if (site && gateway && camera && from && to) {
        const query = new URLSearchParams({ from, to });
        await player(
          view,
          `/api/v1/cameras/${encodeURIComponent(site)}/${encodeURIComponent(gateway)}/${encodeURIComponent(camera)}/footage?${query}`,
          `${camera}, ${new Date(from).toLocaleString()} – ${new Date(to).toLocaleString()}`,
        );
      }
    } catch (error) {
      toast(`Footage failed: ${error.message}`, 'error');
    }
  },
});
