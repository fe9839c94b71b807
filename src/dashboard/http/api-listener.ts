import type { TlsOptions } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { DashboardConfig } from '../../config/dashboard-config.js';
import { httpsOptions } from '../../config/tls-material.js';
import { describeListenError } from '../../lib/listen.js';
import { assertListenerSecure } from '../../lib/tls-profile.js';

/**
 * The API's TLS, checked before anything else starts: a dashboard that would listen in the clear,
 * or with a certificate outside the TLS profile, does not start at all. Undefined: plain HTTP, on
 * a loopback address only.
 */
export function apiTls(http: DashboardConfig['http']): TlsOptions | undefined {
  assertListenerSecure(
    'dashboard',
    http.host,
    http.tls !== undefined,
    'Set http.tls (cert and key, see docs/security.md) or http.host: 127.0.0.1 behind a TLS-terminating proxy.',
  );
  return http.tls ? httpsOptions(http.tls) : undefined;
}

/**
 * Opens the API on the configured address, failing with errors an operator can act on; returns
 * the URL it answers at, with the port the system chose when `port` is 0.
 */
export async function listenApi(
  app: FastifyInstance,
  http: DashboardConfig['http'],
  secure: boolean,
): Promise<string> {
  const { host, port } = http;
  try {
    await app.listen({ host, port });
  } catch (error) {
    throw describeListenError(
      error,
      'dashboard',
      host,
      port,
      'set http.port (IDENTGATE_HTTP__PORT) to a free port',
    );
  }
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
}
