/**
 * Starts a child process with umask 077, so that every file it creates (ffmpeg's segments in the
 * spool, the clips and playback it joins) is 0600 from its first byte, whoever runs the gateway
 * and with whatever umask. The process-wide umask is changed only for the synchronous spawn,
 * which the child inherits; a file Node's thread pool creates meanwhile only gets stricter.
 */
export function withPrivateUmask<T>(spawnChild: () => T): T {
  const previous = process.umask(0o077);
  try {
    return spawnChild();
  } finally {
    process.umask(previous);
  }
}
