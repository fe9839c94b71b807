import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Client } from 'pg';
import { expect } from 'vitest';

/** A session as the browser holds it: the cookie and the CSRF token it sends with each request. */
export interface BrowserSession {
  cookie: string;
  csrf: string;
}

/** The session cookie an answer sets, as a `cookie` header; empty when it sets none. */
export function cookieOf(response: LightMyRequestResponse): string {
  const set = response.cookies.find((c) => c.name === '__Host-identgate-session');
  return set ? `${set.name}=${set.value}` : '';
}

/** A request in `session`'s name from `address`, as the browser sends it. */
export function from(session: BrowserSession, address: string): Partial<InjectOptions> {
  return {
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
    remoteAddress: address,
  };
}

/**
 * Sign-in requests by hand through `inject()`, for the tests that need more control than a
 * StaffClient gives (a chosen address, a half-signed-in session), and the audit entries they
 * leave. `current` is read at each call, so a file can take these while its tests are collected
 * and start its system in beforeAll.
 */
export function staffAuthRequests(current: () => { app: FastifyInstance; db: Client }) {
  const post = (url: string, payload: unknown, options: Partial<InjectOptions> = {}) =>
    current().app.inject({ method: 'POST', url, payload: payload as InjectOptions['payload'], ...options });

  /** The audit entries with this action, oldest first. */
  const audit = async (action: string) =>
    (
      await current().db.query<{ actor: string; target: string | null; details: Record<string, unknown> }>(
        'SELECT actor, target, details FROM audit_log WHERE action = $1 ORDER BY id',
        [action],
      )
    ).rows;

  /** What the dashboard says of `session`: authenticated or not, its stage, its CSRF token. */
  const sessionOf = async (session: { cookie: string }) =>
    (
      await current().app.inject({
        method: 'GET',
        url: '/api/v1/session',
        headers: { cookie: session.cookie },
      })
    ).json();

  /** A password sign-in from `address`: the new session's cookie, CSRF token and stage. */
  const signInFrom = async (login: string, password: string, address: string) => {
    const response = await post('/api/v1/auth/login', { login, password }, { remoteAddress: address });
    expect(response.statusCode, response.body).toBe(200);
    const cookie = cookieOf(response);
    return {
      cookie,
      csrf: (await sessionOf({ cookie })).csrfToken as string,
      stage: response.json().stage as string,
    };
  };

  return { post, audit, sessionOf, signInFrom };
}
