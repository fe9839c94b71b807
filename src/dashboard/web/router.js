// Pages register themselves here; the router shows the one the address names (#/live, #/alarms,
// #/events?door=main …) if the signed-in role may see it, and builds the navigation from them.
import { el, session } from './lib.js';

const pages = [];
let cleanup = null;

/**
 * page: { path: 'live', title: 'Live', roles: ['security', 'admin'], nav: true, order: 10,
 *         render(view, params) → optional cleanup function }
 */
export function registerPage(page) {
  pages.push({ nav: true, order: 50, ...page });
  pages.sort((a, b) => a.order - b.order);
}

export function allowedPages() {
  return pages.filter((p) => !p.roles || p.roles.includes(session.role));
}

export function currentRoute() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = hash.split('?');
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

export function navigate(path, params) {
  const query = params ? `?${new URLSearchParams(params)}` : '';
  const target = `#/${path}${query}`;
  if (location.hash === target) show();
  else location.hash = target;
}

/** Shows a page by path (or the first allowed one); pages outside the role are not offered. */
export async function show(forced) {
  const view = document.getElementById('view');
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  const route = forced ?? currentRoute();
  const allowed = allowedPages();
  const page =
    allowed.find((p) => p.path === route.path) ?? (forced ? undefined : allowed.find((p) => p.nav));
  renderNav(page);
  if (!page) {
    view.replaceChildren(el('p', {}, 'There is nothing here for your role.'));
    return;
  }
  document.title = `${page.title} — identgate`;
  await renderInto(view, page, route.params ?? {});
}

/**
 * Each page renders into a container of its own. Pages render asynchronously: when the address
 * changes again before a render finished, the earlier page lands in a detached container (never
 * beside the new one) and is cleaned up (its live stream closed) as soon as it is done.
 */
let generation = 0;
async function renderInto(view, page, params) {
  const mine = ++generation;
  const container = el('div', { className: 'page', dataset: { page: page.path ?? 'none' } });
  view.replaceChildren(container);
  const done = (await page.render(container, params)) ?? null;
  if (mine !== generation) {
    if (typeof done === 'function') done();
    return;
  }
  cleanup = done;
}

/** Shows a page that is not in the navigation (sign-in, enrolment) regardless of the address. */
export async function showPage(page, params = {}) {
  const view = document.getElementById('view');
  if (typeof cleanup === 'function') cleanup();
  cleanup = null;
  renderNav(undefined);
  document.title = `${page.title} — identgate`;
  await renderInto(view, page, params);
}

function renderNav(active) {
  const nav = document.getElementById('nav');
  if (!session.authenticated || session.stage !== 'active') {
    nav.replaceChildren();
    return;
  }
  nav.replaceChildren(
    ...allowedPages()
      .filter((p) => p.nav)
      .map((p) =>
        el(
          'a',
          {
            href: `#/${p.path}`,
            'aria-current': p === active ? 'page' : undefined,
            dataset: { page: p.path },
          },
          p.title,
        ),
      ),
  );
}
