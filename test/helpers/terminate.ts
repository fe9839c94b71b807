import type { ChildProcess } from 'node:child_process';

/**
 * Ends a Mosquitto with SIGTERM, as an init system would (it saves its persistence file on the
 * way out), sent again every half second until it exits: one that arrives right after the start,
 * before Mosquitto's main loop sets its running flag, is lost (seen in one of three stops
 * straight after a start, which then waited for ever).
 */
export async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const again = setInterval(() => child.kill('SIGTERM'), 500);
  try {
    await exited;
  } finally {
    clearInterval(again);
  }
}
