// Staff accounts (administrators only): list, create with a one-time enrolment link, change the
// role, disable and enable, reset a lost authenticator, issue a new link for a forgotten password.
// Every change asks for a fresh re-authentication and ends the account's sessions.
import { grid, section, select, sensitive } from './admin-lib.js';
import { api, el, field, formatTime, formHandler, session, toast } from './lib.js';
import { registerPage } from './router.js';

const ROLES = ['security', 'auditor', 'admin'];
const WHY = 'Changing staff accounts needs your password and a fresh code.';

/** The link is shown once: the administrator passes it on over a separate channel. */
function linkBox(login, invitation) {
  const url = `${location.origin}/#invite=${invitation.token}`;
  return el(
    'div',
    { className: 'card invitation', id: 'invitation', role: 'status' },
    el(
      'p',
      {},
      `Enrolment link for ${login} — give it to them over a separate channel. It works once and expires ${formatTime(invitation.expiresAt)}. It is shown only now.`,
    ),
    el('code', { className: 'secret', id: 'invitation-link' }, url),
  );
}

class StaffPage {
  constructor(view) {
    this.view = view;
    this.list = el('div', { id: 'staff-list' });
    this.notice = el('div');
    view.append(el('h2', {}, 'Staff accounts'), this.notice, this.createForm(), this.list);
  }

  createForm() {
    const form = el(
      'form',
      { className: 'filters', id: 'staff-create' },
      field(
        'Login',
        el('input', {
          name: 'login',
          required: true,
          maxLength: 64,
          pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{1,63}',
        }),
      ),
      field('Name', el('input', { name: 'displayName', required: true, maxLength: 120 })),
      field('Role', select('role', ROLES, 'security')),
      el('button', { type: 'submit' }, 'Create account'),
    );
    return section(
      'New account',
      el(
        'p',
        { className: 'hint' },
        'The new colleague gets a one-time link to choose their own password; they set up their authenticator at the first sign-in.',
      ),
      formHandler(form, async (data) => {
        const { account, invitation } = await sensitive('POST', '/api/v1/staff', data, WHY);
        form.reset();
        this.notice.replaceChildren(linkBox(account.login, invitation));
        toast(`Account ${account.login} created.`, 'success');
        await this.load();
      }),
    );
  }

  async load() {
    try {
      const { accounts } = await api('GET', '/api/v1/staff');
      this.list.replaceChildren(
        grid(
          'staff-table',
          ['Login', 'Name', 'Role', 'State', 'Created', 'Actions'],
          accounts.map((a) => this.row(a)),
        ),
      );
    } catch (error) {
      toast(`Could not load the accounts: ${error.message}`, 'error');
    }
  }

  row(account) {
    const state = [
      account.disabled ? 'disabled' : 'enabled',
      account.totpEnrolled ? 'authenticator set up' : 'no authenticator yet',
      account.invitationPending ? 'link not used yet' : null,
    ]
      .filter(Boolean)
      .join(', ');
    const own = account.login === session.login;
    const change = (body, message) => async () => {
      try {
        await sensitive('PATCH', `/api/v1/staff/${encodeURIComponent(account.login)}`, body, WHY);
        toast(message, 'success');
        await this.load();
      } catch (error) {
        toast(error.message, 'error');
      }
    };
    const roleForm = el(
      'form',
      { className: 'inline' },
      select('role', ROLES, account.role),
      el('button', { type: 'submit', className: 'small' }, 'Set role'),
    );
    formHandler(roleForm, async ({ role }) => {
      await sensitive('PATCH', `/api/v1/staff/${encodeURIComponent(account.login)}`, { role }, WHY);
      toast(`${account.login} is now ${role}; their sessions ended.`, 'success');
      await this.load();
    });
    // A disabled account comes back with its new link in one change: enabled first, its old
    // password would work until the link was issued.
    const newLink = async () => {
      try {
        const invitation = await sensitive(
          'POST',
          `/api/v1/staff/${encodeURIComponent(account.login)}/invitation${account.disabled ? '?enable=true' : ''}`,
          undefined,
          WHY,
        );
        this.notice.replaceChildren(linkBox(account.login, invitation));
        await this.load();
      } catch (error) {
        toast(error.message, 'error');
      }
    };
    const actions = own
      ? [el('small', {}, 'your own account (another administrator changes it)')]
      : [
          roleForm,
          el(
            'button',
            {
              type: 'button',
              className: 'small secondary',
              onclick: change(
                { disabled: !account.disabled },
                account.disabled ? 'Enabled.' : 'Disabled; sessions ended.',
              ),
            },
            account.disabled ? 'Enable' : 'Disable',
          ),
          el(
            'button',
            {
              type: 'button',
              className: 'small secondary',
              onclick: change(
                { resetTotp: true },
                'Authenticator reset: they enrol again at the next sign-in.',
              ),
            },
            'Reset authenticator',
          ),
          el(
            'button',
            { type: 'button', className: 'small secondary', onclick: newLink },
            account.disabled ? 'Enable with new link' : 'New link',
          ),
        ];
    return el(
      'tr',
      { dataset: { login: account.login } },
      el('td', {}, account.login),
      el('td', {}, account.displayName),
      el('td', {}, account.role),
      el('td', {}, state),
      el('td', {}, formatTime(account.createdAt)),
      el('td', { className: 'actions' }, ...actions),
    );
  }
}

registerPage({
  path: 'admin-staff',
  title: 'Staff',
  roles: ['admin'],
  order: 70,
  async render(view) {
    await new StaffPage(view).load();
  },
});
