// Sign-in, the second factor, TOTP enrolment, the first administrator's setup, the own account.
import { api, el, field, formHandler, loadSession, session, toast, withReauth } from './lib.js';
import { registerPage } from './router.js';

const MIN = 12;
const RECOMMENDED = 15;

export function passwordInput(name, autocomplete) {
  const input = el('input', {
    name,
    type: 'password',
    autocomplete,
    required: true,
    minLength: MIN,
    maxLength: 128,
  });
  const meter = el(
    'small',
    { className: 'hint', 'aria-live': 'polite' },
    `At least ${MIN} characters; ${RECOMMENDED} or more recommended. A passphrase of several words is easiest.`,
  );
  input.addEventListener('input', () => {
    const n = [...input.value].length;
    meter.textContent =
      n < MIN
        ? `${n} of at least ${MIN} characters`
        : n < RECOMMENDED
          ? `${n} characters — ${RECOMMENDED} or more recommended`
          : `${n} characters`;
  });
  return [input, meter];
}

function codeInput() {
  return el('input', {
    name: 'code',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    pattern: '\\d{6}',
    maxLength: 6,
    required: true,
  });
}

function card(title, ...children) {
  return el('section', { className: 'card narrow' }, el('h2', {}, title), ...children);
}

/** After any step: reload the session and let the app route to what comes next. */
async function next() {
  await loadSession();
  window.dispatchEvent(new CustomEvent('identgate:session-changed'));
}

export const setupPage = {
  title: 'Set up identgate',
  render(view, { token }) {
    const [password, meter] = passwordInput('password', 'new-password');
    const form = el(
      'form',
      { className: 'stack', id: 'setup-form' },
      el(
        'p',
        {},
        'Create the first administrator account. The setup link works once; everything else is done from this account.',
      ),
      field(
        'Login',
        el('input', {
          name: 'login',
          autocomplete: 'username',
          required: true,
          pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{1,63}',
        }),
      ),
      field(
        'Your name',
        el('input', { name: 'displayName', autocomplete: 'name', required: true, maxLength: 120 }),
      ),
      field('Password', password, meter),
      el('button', { type: 'submit' }, 'Create administrator'),
    );
    formHandler(form, async (data) => {
      await api('POST', '/api/v1/setup', {
        token,
        login: data.login,
        displayName: data.displayName,
        password: data.password,
      });
      history.replaceState(null, '', location.pathname);
      await api('POST', '/api/v1/auth/login', { login: data.login, password: data.password });
      await next();
    });
    view.append(card('First administrator', form));
  },
};

export const loginPage = {
  title: 'Sign in',
  render(view) {
    const form = el(
      'form',
      { className: 'stack', id: 'login-form' },
      field(
        'Login',
        el('input', { name: 'login', autocomplete: 'username', required: true, autofocus: true }),
      ),
      field(
        'Password',
        el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
      ),
      el('button', { type: 'submit' }, 'Sign in'),
    );
    formHandler(form, async (data) => {
      await api('POST', '/api/v1/auth/login', { login: data.login, password: data.password });
      await next();
    });
    view.append(card('Sign in', form));
  },
};

export const codePage = {
  title: 'Code',
  render(view) {
    const form = el(
      'form',
      { className: 'stack', id: 'code-form' },
      el('p', {}, 'Enter the 6-digit code from your authenticator app.'),
      field('Code', codeInput()),
      el('button', { type: 'submit' }, 'Continue'),
      el('button', { type: 'button', className: 'secondary', onclick: signOut }, 'Cancel'),
    );
    formHandler(form, async (data) => {
      await api('POST', '/api/v1/auth/code', { code: data.code });
      await next();
    });
    view.append(card('Second factor', form));
    form.querySelector('input').focus();
  },
};

/** Shows the QR code once, then asks for a code from the app to confirm. */
function enrolment(view, { onConfirmed, intro }) {
  const box = el('div', { className: 'stack', id: 'enrolment' }, el('p', {}, intro));
  const start = el('button', { type: 'button', id: 'enrol-start' }, 'Show QR code');
  box.append(start);
  start.addEventListener('click', async () => {
    start.disabled = true;
    try {
      const result = await withReauth(
        () => api('POST', '/api/v1/auth/enrolment', {}),
        'A new authenticator needs your password and a code from the current one.',
      );
      const image = el('img', {
        className: 'qr',
        alt: 'QR code for your authenticator app',
        src: `data:image/svg+xml;base64,${btoa(result.qrSvg)}`,
      });
      const form = el(
        'form',
        { className: 'stack', id: 'enrol-form' },
        image,
        el(
          'details',
          {},
          el('summary', {}, 'Cannot scan? Enter the key by hand'),
          el('code', { className: 'secret', id: 'enrol-secret' }, result.secret),
        ),
        field('Code shown by the app', codeInput()),
        el('button', { type: 'submit' }, 'Confirm'),
      );
      formHandler(form, async (data) => {
        // Replacing an authenticator must still be within the re-authentication when confirmed.
        await withReauth(
          () => api('POST', '/api/v1/auth/enrolment/confirm', { code: data.code }),
          'Confirming the new authenticator needs your password and a code from the current one.',
        );
        await onConfirmed();
      });
      start.replaceWith(form);
      form.querySelector('input[name="code"]').focus();
    } catch (error) {
      start.disabled = false;
      toast(error.message, 'error');
    }
  });
  view.append(box);
}

export const enrolPage = {
  title: 'Set up your authenticator',
  render(view) {
    const section = card('Set up your authenticator');
    enrolment(section, {
      intro:
        'Every sign-in needs a code from an authenticator app (any TOTP app). Scan the QR code with it, then enter the code it shows. The QR code is shown only now.',
      onConfirmed: next,
    });
    view.append(section);
  },
};

export async function signOut() {
  try {
    await api('POST', '/api/v1/auth/logout', {});
  } catch {
    // Signed out already.
  }
  await next();
}

registerPage({
  path: 'account',
  title: 'Account',
  nav: false,
  render(view) {
    const [next, meter] = passwordInput('next', 'new-password');
    const form = el(
      'form',
      { className: 'stack', id: 'password-form' },
      field(
        'Current password',
        el('input', { name: 'current', type: 'password', autocomplete: 'current-password', required: true }),
      ),
      field('New password', next, meter),
      el('button', { type: 'submit' }, 'Change password'),
    );
    formHandler(form, async (data) => {
      await api('POST', '/api/v1/auth/password', { current: data.current, next: data.next });
      form.reset();
      toast('Password changed; your other sessions were signed out.', 'success');
    });
    const device = card('Authenticator');
    enrolment(device, {
      intro:
        'Move your second factor to a new device. The old one stops working once the new one is confirmed.',
      onConfirmed: async () => {
        toast('New authenticator confirmed.', 'success');
        await next();
      },
    });
    view.append(
      card(`${session.displayName} (${session.login}, ${session.role})`, el('h3', {}, 'Password'), form),
      device,
    );
  },
});
