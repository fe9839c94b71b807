import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/services.js';

/**
 * hardware/pam/identgate-pam-check where /bin/sh is bash (RHEL, Fedora, SUSE, Arch), found by
 * review rv91.
 * pam_exec hands the PAM environment to the shell; bash imports SHELLOPTS from it even as root,
 * and `noexec` there makes the script read but run nothing: exit 0, which pam_exec takes as
 * success. The node command is replaced by a stub that denies (exit 2).
 */
describe('the PAM wrapper under bash as /bin/sh', () => {
  // Debian's /bin/sh is dash, but bash is always there: without it the test fails, not skips.
  requireTool(existsSync('/bin/bash'), 'bash', 'bash');
  const dir = mkdtempSync(join(tmpdir(), 'idg-pam-wrapper-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, 'identgate-pam-check');
  writeFileSync(
    wrapper,
    readFileSync('hardware/pam/identgate-pam-check', 'utf8').replace(
      '/usr/bin/node /opt/identgate/bin/identgate.js workstation check "$@"',
      '/bin/dash -c "exit 2"',
    ),
  );
  const sh = join(dir, 'sh'); // bash started under the name sh, as /bin/sh -> bash is
  symlinkSync('/bin/bash', sh);
  const shebang = readFileSync(wrapper, 'utf8').split('\n')[0] as string;
  const flags = shebang
    .replace(/^#!\S+\s*/, '')
    .split(/\s+/)
    .filter(Boolean);
  const run = (env: Record<string, string>) =>
    spawnSync(sh, [...flags, wrapper], { env: { PAM_TYPE: 'auth', PAM_USER: 'mallory', ...env } }).status;

  it('baseline: the check runs and denies', () => {
    expect(run({})).toBe(2);
  });

  it('SHELLOPTS=noexec in the PAM environment must not turn a denial into success', () => {
    expect(run({ SHELLOPTS: 'noexec' })).toBe(2);
  });
});
