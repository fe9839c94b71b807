import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PamSyslog, syslogPriority } from '../../../src/cli/pam-syslog.js';

const dir = mkdtempSync(join(tmpdir(), 'idg-pam-syslog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for `logger` that keeps its arguments and input, then exits with `code`. */
function fakeLogger(name: string, code = 0): { program: string; received: () => string } {
  const out = join(dir, `${name}.out`);
  const program = join(dir, `${name}.sh`);
  writeFileSync(
    program,
    `#!/bin/sh\necho "args: $*" >> ${out}\ncat >> ${out}\necho refused >&2\nexit ${code}\n`,
  );
  chmodSync(program, 0o755);
  return { program, received: () => readFileSync(out, 'utf8') };
}

describe('PamSyslog: a login check run by pam_exec writes to the system log', () => {
  it('is off unless pam_exec runs the check (PAM_TYPE)', () => {
    expect(PamSyslog.forCheck({ PAM_USER: 'ada' })).toBeUndefined();
    expect(PamSyslog.forCheck({ PAM_TYPE: 'auth' })).toBeInstanceOf(PamSyslog);
  });

  it('sends each line, marked with the service and stage, at the priority of the outcome', () => {
    const logger = fakeLogger('ok');
    const syslog = PamSyslog.forCheck({ PAM_TYPE: 'account', PAM_SERVICE: 'sshd' });
    syslog?.useProgram(logger.program);
    syslog?.note('{"level":50,"msg":"central unreachable"}');
    syslog?.note('deny: central-unreachable (connect ECONNREFUSED)\n');
    expect(syslog?.flush(2)).toBeUndefined();
    expect(logger.received()).toBe(
      [
        `args: --socket-errors=on -t identgate-workstation-check --id=${process.pid} -p authpriv.notice`,
        '[sshd/account] {"level":50,"msg":"central unreachable"}',
        '[sshd/account] deny: central-unreachable (connect ECONNREFUSED)',
        '',
      ].join('\n'),
    );
    // Flushed lines are not sent twice; nothing to send runs no program.
    expect(syslog?.flush(2)).toBeUndefined();
    expect(logger.received().match(/^args:/gm)).toHaveLength(1);
  });

  it('cannot be made to forge lines: control characters in a service name or a line become spaces', () => {
    const logger = fakeLogger('forge');
    const syslog = PamSyslog.forCheck({ PAM_TYPE: 'auth', PAM_SERVICE: 'login\n[sshd/auth] allow' });
    syslog?.useProgram(logger.program);
    syslog?.note('deny: not-present\r\u0007x');
    syslog?.flush(2);
    const lines = logger.received().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('[login [sshd/auth] allow/auth] deny: not-present  x');
  });

  it('says why when the system log does not take the lines: logger missing, or failing', () => {
    const missing = PamSyslog.forCheck({ PAM_TYPE: 'auth' });
    missing?.useProgram(join(dir, 'nope'));
    missing?.note('allow');
    expect(missing?.flush(0)).toMatch(/nope: spawnSync .* ENOENT/);
    const failing = fakeLogger('failing', 1);
    const refused = PamSyslog.forCheck({ PAM_TYPE: 'auth' });
    refused?.useProgram(failing.program);
    refused?.note('allow');
    expect(refused?.flush(0)).toBe(`${failing.program} exited 1: refused`);
  });

  it('takes its program from the configuration only, never from the PAM environment', () => {
    const logger = fakeLogger('env');
    const syslog = PamSyslog.forCheck({ PAM_TYPE: 'auth', IDENTGATE_SYSLOG_PROGRAM: logger.program });
    syslog?.note('allow');
    // The default /usr/bin/logger is run (it fails here, with no syslog socket, or logs); never the named one.
    syslog?.flush(0);
    expect(() => logger.received()).toThrow(/ENOENT/);
  });

  it('gives a logger that hangs 2 s, then kills it: the login is not held up', () => {
    const hang = join(dir, 'hang.sh');
    writeFileSync(hang, '#!/bin/sh\ntrap "" TERM\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const syslog = PamSyslog.forCheck({ PAM_TYPE: 'auth' });
    syslog?.useProgram(hang);
    syslog?.note('allow');
    const started = process.hrtime.bigint();
    expect(syslog?.flush(0)).toMatch(/ETIMEDOUT|SIGKILL/);
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(10);
  });

  it('maps outcomes to priorities: allowed info, denied notice, failed err', () => {
    expect([0, 2, 1, 78].map(syslogPriority)).toEqual([
      'authpriv.info',
      'authpriv.notice',
      'authpriv.err',
      'authpriv.err',
    ]);
  });
});
