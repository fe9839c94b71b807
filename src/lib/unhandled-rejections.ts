import { toError } from './coded-error.js';
import type { Logger } from './logger.js';

/**
 * What the long-running processes (gateway, dashboard, demo) do with a promise rejection no code
 * handled: Node 20 would end the process, and a door controller must not stop because a video
 * transfer or a log write failed. A rejection is settled work whose caller has moved on, so the
 * state around it is as consistent as before; it is logged at error and `report` raises an
 * internal-error alarm (the caller decides how often). An exception thrown synchronously out of
 * a callback (`uncaughtException`) is left to end the process: it may have stopped half-way
 * through a change of state, and a restart begins from a known one.
 *
 * Returns a function that removes the handler (orderly stop, tests).
 */
export function reportUnhandledRejections(
  log: Logger,
  report: (error: Error) => void | Promise<void>,
  target: Pick<NodeJS.Process, 'on' | 'off'> = process,
): () => void {
  const onRejection = (reason: unknown) => {
    const error = toError(reason);
    log.error(
      { err: error },
      'unhandled promise rejection (a defect): reported as an internal-error alarm; the process keeps running',
    );
    Promise.resolve()
      .then(() => report(error))
      .catch((failure: unknown) =>
        log.error({ err: failure }, 'could not raise the alarm for an unhandled promise rejection'),
      );
  };
  target.on('unhandledRejection', onRejection);
  return () => {
    target.off('unhandledRejection', onRejection);
  };
}
