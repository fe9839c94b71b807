import { CodedError } from './coded-error.js';

/**
 * Turns the errors a listener can meet at start-up into messages an operator can act on.
 */
export function describeListenError(
  error: unknown,
  what: string,
  host: string,
  port: number,
  hint: string,
): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new CodedError(
      'IDG_PORT_IN_USE',
      `${what}: ${host}:${port} is already in use by another process; stop it or ${hint}`,
    );
  }
  if (code === 'EACCES') {
    return new CodedError(
      'IDG_PORT_DENIED',
      `${what}: not allowed to listen on ${host}:${port}; use a port above 1023 or ${hint}`,
    );
  }
  if (code === 'EADDRNOTAVAIL') {
    return new CodedError(
      'IDG_ADDRESS_UNAVAILABLE',
      `${what}: ${host} is not an address of this machine; ${hint}`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}
