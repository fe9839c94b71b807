import { spawnSync } from 'node:child_process';

/**
 * pam_exec sends a program's output nowhere (stdout and stderr go to /dev/null unless the PAM
 * line names a log file), so a login check run by PAM would deny with no trace on the
 * workstation of why: a broken configuration, central unreachable, the person not present. Under
 * pam_exec (it sets `PAM_TYPE`) the check's lines also go to the system log, facility `authpriv`
 * (readable by root only, beside the other login messages), tagged `identgate-workstation-check`,
 * one message per line, through util-linux's `logger`. The lines name no user — the system
 * log's retention is the operating system's, not the 60 days of the presence data; the PAM
 * service and stage are named, and the user is in pam_unix's lines around them.
 */
export const PAM_SYSLOG_TAG = 'identgate-workstation-check';

/**
 * Where `logger` is: absolute, since pam_exec runs the check with no PATH; the workstation
 * configuration's `syslogProgram` once it is read (never the environment, which under pam_exec
 * is the PAM environment: not the administrator's to trust).
 */
export const DEFAULT_SYSLOG_PROGRAM = '/usr/bin/logger';

/** A priority per outcome: allowed, denied (exit 2), and everything else (the check failed). */
export function syslogPriority(exitCode: number): string {
  if (exitCode === 0) return 'authpriv.info';
  if (exitCode === 2) return 'authpriv.notice';
  return 'authpriv.err';
}

export class PamSyslog {
  private readonly lines: string[] = [];
  private program = DEFAULT_SYSLOG_PROGRAM;

  private constructor(private readonly context: string) {}

  /** A collector when pam_exec runs the check (the environment holds `PAM_TYPE`), else undefined. */
  static forCheck(env: NodeJS.ProcessEnv): PamSyslog | undefined {
    if (!env.PAM_TYPE) return undefined;
    return new PamSyslog(`${sanitise(env.PAM_SERVICE ?? 'unknown')}/${sanitise(env.PAM_TYPE)}`);
  }

  /** The `logger` the workstation configuration names (`syslogProgram`). */
  useProgram(program: string): void {
    this.program = program;
  }

  /** Keeps a line of output (a verdict, a log record, an error) for the system log. */
  note(line: string): void {
    for (const part of line.split('\n')) if (part.trim()) this.lines.push(sanitise(part));
  }

  /**
   * Hands the lines to `logger`, bounded to 2 s, then killed (a hung syslog must not hold up the
   * login; the verdict is already decided). Returns why it failed, or undefined once logged.
   */
  flush(exitCode: number): string | undefined {
    if (this.lines.length === 0) return undefined;
    const input = `${this.lines.map((line) => `[${this.context}] ${line}`).join('\n')}\n`;
    this.lines.length = 0;
    const result = spawnSync(
      this.program,
      ['--socket-errors=on', '-t', PAM_SYSLOG_TAG, `--id=${process.pid}`, '-p', syslogPriority(exitCode)],
      { input, timeout: 2000, killSignal: 'SIGKILL', stdio: ['pipe', 'ignore', 'pipe'] },
    );
    if (result.error) return `${this.program}: ${result.error.message}`;
    if (result.status !== 0)
      return `${this.program} exited ${result.status ?? result.signal}: ${String(result.stderr).trim()}`.slice(
        0,
        300,
      );
    return undefined;
  }
}

/** One printable line, bounded: no control characters (a forged service name cannot add lines). */
function sanitise(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 2000);
}
