// The dashboard's browser application: finds out who is signed in, then shows the sign-in steps
// or the pages the role may use. Pages live in page-*.js and register themselves.
import { el, loadSession, session } from './lib.js';
import { codePage, enrolPage, loginPage, setupPage, signOut } from './page-auth.js';
import './page-live.js';
import './page-alarms.js';
import './page-events.js';
import './page-footage.js';
import './page-audit.js';
import './page-workstations.js';
import './page-admin-people.js';
import './page-admin-directory.js';
import './page-admin-staff.js';
import './page-admin-retention.js';
import { invitePage } from './page-invite.js';
import { show, showPage } from './router.js';

function renderUser() {
  const user = document.getElementById('user');
  if (!session.authenticated || session.stage !== 'active') {
    user.replaceChildren();
    return;
  }
  user.replaceChildren(
    el('a', { href: '#/account', id: 'account-link' }, `${session.displayName} · ${session.role}`),
    el('button', { type: 'button', className: 'link', id: 'sign-out', onclick: signOut }, 'Sign out'),
  );
}

async function route() {
  const setup = /^#setup=([A-Za-z0-9_-]{10,64})$/.exec(location.hash);
  const invite = /^#invite=([A-Za-z0-9_-]{20,64})$/.exec(location.hash);
  if (invite) return showPage(invitePage, { token: invite[1] });
  if (!session.authenticated) {
    document.getElementById('connection').textContent = '';
    // What the previous user was told is not for the next one.
    document.getElementById('toasts').replaceChildren();
    renderUser();
    if (setup) return showPage(setupPage, { token: setup[1] });
    return showPage(loginPage);
  }
  renderUser();
  if (session.stage === 'enrol') return showPage(enrolPage);
  if (session.stage === 'totp') return showPage(codePage);
  if (setup) history.replaceState(null, '', `${location.pathname}#/`);
  return show();
}

window.addEventListener('hashchange', () => route());
window.addEventListener('identgate:session-changed', () => route());
window.addEventListener('identgate:signed-out', async () => {
  await loadSession();
  await route();
});

loadSession()
  .then(route)
  .catch((error) => {
    document
      .getElementById('view')
      .replaceChildren(el('p', { className: 'error' }, `The dashboard is not reachable: ${error.message}`));
  });
