import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { TotpVerifier } from '../../src/controllers/totp-verifier.js';
import type { Role } from '../../src/dashboard/auth/staff-store.js';
import type { Dashboard } from '../../src/dashboard/dashboard.js';
import type { ShiftClock } from './shift-clock.js';

const totp = new TotpVerifier();
let counter = 0;

/**
 * A signed-in staff member talking to the dashboard through `inject()`: created directly, then
 * through the real sign-in (password, TOTP enrolment, code), carrying the session cookie and the
 * CSRF token on every request as the browser UI does.
 */
export class StaffClient {
  cookie = '';
  csrf = '';
  private lastStep = 0;

  private constructor(
    readonly app: FastifyInstance,
    readonly clock: ShiftClock,
    readonly login: string,
    readonly password: string,
    public secret = '',
  ) {}

  static async create(
    dashboard: Dashboard,
    clock: ShiftClock,
    role: Role,
    login?: string,
  ): Promise<StaffClient> {
    counter += 1;
    const name = login ?? `${role}-${counter}-${process.pid}`;
    const password = `correct horse battery staple ${counter} tram`;
    await dashboard.auth.createAccount(
      { login: name, displayName: `Test ${role} ${counter}`, password, role },
      { tool: 'test' },
    );
    const client = new StaffClient(dashboard.http, clock, name, password);
    await client.signIn();
    return client;
  }

  /** Password, then enrolment (first time) or a code. */
  async signIn(): Promise<void> {
    const login = await this.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: this.login, password: this.password },
    });
    if (login.statusCode !== 200) throw new Error(`login failed: ${login.body}`);
    this.takeCookie(login);
    await this.refreshCsrf();
    if (login.json().stage === 'enrol') {
      const started = await this.request('POST', '/api/v1/auth/enrolment');
      this.secret = started.json().secret;
      const confirmed = await this.request('POST', '/api/v1/auth/enrolment/confirm', { code: this.code() });
      if (confirmed.statusCode !== 200) throw new Error(`enrolment failed: ${confirmed.body}`);
    } else {
      const coded = await this.request('POST', '/api/v1/auth/code', { code: this.code() });
      if (coded.statusCode !== 200) throw new Error(`code refused: ${coded.body}`);
    }
  }

  /** A code for a time step not used yet, moving the dashboard's clock on when needed. */
  code(): string {
    let step = Math.floor(this.clock.now() / 30_000);
    if (step <= this.lastStep) {
      this.clock.advance((this.lastStep + 1 - step) * 30_000);
      step = this.lastStep + 1;
    }
    this.lastStep = step;
    return totp.generate(this.secret, step * 30_000 + 1);
  }

  async reauth(): Promise<void> {
    const response = await this.request('POST', '/api/v1/auth/reauth', {
      password: this.password,
      code: this.code(),
    });
    if (response.statusCode !== 200) throw new Error(`re-authentication failed: ${response.body}`);
  }

  /**
   * Re-authenticates only when the session's re-authentication is no longer fresh. Each reauth
   * moves the shared test clock on by a TOTP step, and enough needless ones would outrun the
   * minutes that a re-authentication counts for (reauthMinutes, 5 by default).
   */
  async confirm(): Promise<void> {
    const session = await this.request('GET', '/api/v1/session');
    if (!session.json().reauthFresh) await this.reauth();
  }

  async refreshCsrf(): Promise<void> {
    const session = await this.app.inject({
      method: 'GET',
      url: '/api/v1/session',
      headers: { cookie: this.cookie },
    });
    this.csrf = session.json().csrfToken ?? '';
  }

  request(
    method: InjectOptions['method'],
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ): Promise<LightMyRequestResponse> {
    return this.app.inject({
      method,
      url,
      headers: { cookie: this.cookie, 'x-csrf-token': this.csrf, ...headers },
      ...(payload !== undefined ? { payload: payload as InjectOptions['payload'] } : {}),
    });
  }

  private takeCookie(response: LightMyRequestResponse): void {
    const set = response.cookies.find((c) => c.name === '__Host-identgate-session');
    if (set) this.cookie = `${set.name}=${set.value}`;
  }
}

/**
 * The first administrator of a running dashboard over real HTTP, as a browser creates it: the
 * setup token, a password sign-in, TOTP enrolment. Returns the session cookie.
 */
export async function setUpFirstAdmin(
  baseUrl: string,
  token: string,
): Promise<{ cookie: string; csrf: string; secret: string }> {
  const password = 'violet kettle umbrella 4711';
  const json = { 'content-type': 'application/json' };
  const created = await fetch(`${baseUrl}/api/v1/setup`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ token, login: 'root-of-trust', displayName: 'Erste Person', password }),
  });
  if (created.status !== 201) throw new Error(`setup failed: ${await created.text()}`);
  const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ login: 'root-of-trust', password }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
  const session = (await (await fetch(`${baseUrl}/api/v1/session`, { headers: { cookie } })).json()) as {
    csrfToken: string;
  };
  const headers = { ...json, cookie, 'x-csrf-token': session.csrfToken };
  const started = await fetch(`${baseUrl}/api/v1/auth/enrolment`, { method: 'POST', headers, body: '{}' });
  if (started.status !== 200) throw new Error(`enrolment refused: ${await started.text()}`);
  const enrolment = (await started.json()) as { secret: string };
  const confirmed = await fetch(`${baseUrl}/api/v1/auth/enrolment/confirm`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ code: totp.generate(enrolment.secret, Date.now()) }),
  });
  if (confirmed.status !== 200) throw new Error(`enrolment failed: ${await confirmed.text()}`);
  return { cookie, csrf: session.csrfToken, secret: enrolment.secret };
}
