// The page behind a staff enrolment link (#invite=<token>): the new colleague chooses their
// password; signing in and setting up the authenticator follow as usual.
import { api, el, field, formHandler, toast } from './lib.js';
import { passwordInput } from './page-auth.js';

export const invitePage = {
  title: 'Choose your password',
  render(view, { token }) {
    const [password, meter] = passwordInput('password', 'new-password');
    const form = el(
      'form',
      { className: 'stack', id: 'invite-form' },
      el(
        'p',
        {},
        'An administrator created a dashboard account for you. Choose your password; then sign in and set up your authenticator app. This link works once.',
      ),
      field('Password', password, meter),
      el('button', { type: 'submit' }, 'Set password'),
    );
    formHandler(form, async (data) => {
      const { login } = await api('POST', '/api/v1/invitation', { token, password: data.password });
      toast(`Password set. Sign in as ${login}.`, 'success');
      history.replaceState(null, '', location.pathname);
      window.dispatchEvent(new CustomEvent('identgate:session-changed'));
    });
    view.append(el('section', { className: 'card narrow' }, el('h2', {}, 'Welcome'), form));
  },
};
