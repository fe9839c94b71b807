import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { CodedError } from '../../lib/coded-error.js';
import type { Logger } from '../../lib/logger.js';
import { assertListenerSecure } from '../../lib/tls-profile.js';

export interface EmbeddedBroker {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** How many ports after the configured one are tried before giving up. */
const PORT_ATTEMPTS = 20;

/**
 * The demo's MQTT broker (aedes, in memory), on the configured port or the next free one. It has
 * no TLS, so it serves loopback only: a broker other machines reach is Mosquitto with the
 * configuration `identgate pki mosquitto-config` writes.
 */
export async function startEmbeddedBroker(host: string, port: number, log: Logger): Promise<EmbeddedBroker> {
  assertListenerSecure(
    'the embedded demo broker',
    host,
    false,
    'It has no TLS and serves the demo on this machine only; for gateways on the network run Mosquitto with `identgate pki mosquitto-config` (docs/security.md).',
  );
  const broker = await Aedes.createBroker({ id: 'identgate-demo' });
  broker.on('clientError', (client, error) =>
    log.debug({ client: client.id, err: error }, 'broker client error'),
  );
  const server = createServer(broker.handle);
  const bound = await listenOnFreePort(server, host, port);
  return {
    url: `mqtt://${host}:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
      }),
  };
}

export async function listenOnFreePort(server: Server, host: string, first: number): Promise<number> {
  for (let port = first; port < first + PORT_ATTEMPTS; port++) {
    const result = await new Promise<'ok' | 'busy' | Error>((resolve) => {
      const onError = (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE' ? 'busy' : error);
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve('ok');
      });
    });
    if (result === 'ok') {
      const address = server.address();
      return typeof address === 'object' && address ? address.port : port;
    }
    if (result instanceof Error) throw result;
    if (first === 0) break;
  }
  throw new CodedError(
    'IDG_PORT_IN_USE',
    `no free port on ${host} between ${first} and ${first + PORT_ATTEMPTS - 1}`,
  );
}

/** Finds a free TCP port without keeping it, for child processes that bind it themselves. */
export async function findFreePort(host: string, first: number): Promise<number> {
  const probe = createServer();
  const port = await listenOnFreePort(probe, host, first);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
