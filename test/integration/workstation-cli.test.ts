import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { badgeIn, badgeOut, registerWorkstation, seedDirectory } from '../helpers/presence.js';
import { requireTool } from '../helpers/services.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url));
const BREAK_GLASS_CODE = '731-406-995';

/**
 * pamtester's verdict on a test-only service: 0 when the stack let the user through `operation`
 * (`authenticate`, or `acct_mgmt`: the account stage a public-key SSH login or an autologin runs).
 */
function pamtester(
  service: string,
  user: string,
  operation: 'authenticate' | 'acct_mgmt' = 'authenticate',
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('pamtester', [service, user, operation], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

describe('identgate workstation check: the CLI, a real PAM stack, the grace and break-glass', () => {
  let system: TestSystem;
  let dir: string;
  /** Points at the dashboard; `offline` at a closed port, sharing the state directory. */
  let online: string;
  let offline: string;
  let offlineNoGrace: string;
  let pamService: string;
  let accountService: string;
  /** A PAM service whose check reads a configuration that does not exist. */
  let brokenService: string;
  /** What the stand-in for `logger` received: its arguments and lines, one call after the other. */
  let syslogFile: string;
  const syslog = () => readFileSync(syslogFile, 'utf8');

  const check = (config: string, user = system.agent.person) =>
    runCli(['workstation', 'check', '--user', user, '--config', config]);

  beforeAll(async () => {
    requireTool(
      await new Promise((r) => execFile('pamtester', ['-v'], (e) => r(e?.code !== 'ENOENT'))),
      'pamtester',
      'pamtester',
    );
    system = await startTestSystem();
    await seedDirectory(system);
    const token = await registerWorkstation(system, 'ws-pam');
    dir = mkdtempSync(join(tmpdir(), 'idg-ws-'));
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    // A stand-in for util-linux's logger (no syslog daemon here): it keeps what it was given.
    syslogFile = join(dir, 'syslog');
    const fakeLogger = join(dir, 'logger.sh');
    writeFileSync(fakeLogger, `#!/bin/sh\necho "args: $*" >> ${syslogFile}\ncat >> ${syslogFile}\n`);
    chmodSync(fakeLogger, 0o755);
    const yaml = (url: string, grace: number, token = join(dir, 'token')) =>
      [
        'kind: workstation',
        'id: ws-pam',
        `url: ${url}`,
        `token: { file: ${token} }`,
        `syslogProgram: ${fakeLogger}`,
        'timeoutSeconds: 2',
        `graceSeconds: ${grace}`,
        `stateDir: ${join(dir, 'state')}`,
        'breakGlass:',
        `  codeSha256: ${createHash('sha256').update(BREAK_GLASS_CODE).digest('hex')}`,
        '  minutes: 30',
      ].join('\n');
    online = join(dir, 'online.yaml');
    offline = join(dir, 'offline.yaml');
    offlineNoGrace = join(dir, 'offline-no-grace.yaml');
    writeFileSync(online, yaml(system.dashboard.url as string, 120));
    writeFileSync(offline, yaml('http://127.0.0.1:9', 120));
    writeFileSync(offlineNoGrace, yaml('http://127.0.0.1:9', 0));
    // Read, but its token file is missing: the check fails after it knows where the system log is.
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, yaml(system.dashboard.url as string, 0, join(dir, 'no-token')));
    // pam_exec runs the CLI with an empty environment: absolute paths, and cwd for tsx.
    // The shipped wrapper (empty environment but the PAM items), run from the source tree.
    const wrapper = readFileSync(join(ROOT, 'hardware/pam/identgate-pam-check'), 'utf8');
    expect(wrapper).toContain('/usr/bin/node /opt/identgate/bin/identgate.js workstation check "$@"');
    const checkScript = (name: string, config: string) => {
      const script = join(dir, name);
      writeFileSync(
        script,
        wrapper
          .replace('#!/bin/sh\n', `#!/bin/sh\ncd ${ROOT} || exit 1\n`)
          .replace(
            '/usr/bin/node /opt/identgate/bin/identgate.js',
            `${process.execPath} --import tsx ${ENTRY}`,
          )
          .replace('"$@"', `--config ${config}`),
      );
      chmodSync(script, 0o755);
      return script;
    };
    const script = checkScript('check.sh', online);
    pamService = `identgate-test-${randomBytes(6).toString('hex')}`;
    writeFileSync(
      join('/etc/pam.d', pamService),
      `auth required pam_exec.so quiet ${script}\naccount required pam_permit.so\n`,
    );
    brokenService = `${pamService}-broken`;
    writeFileSync(
      join('/etc/pam.d', brokenService),
      `auth required pam_exec.so quiet ${checkScript('broken.sh', broken)}\n`,
    );
    // The shipped file as it is, but for the program it runs: a service that skips auth (as a
    // public-key SSH login does) still meets its account line.
    const shipped = readFileSync(join(ROOT, 'hardware/pam/identgate-workstation'), 'utf8');
    const command = '/usr/lib/identgate/identgate-pam-check --config /etc/identgate/workstation.yaml';
    expect(shipped.match(/^(auth|account)\s+requisite\s+pam_exec\.so quiet (.*)$/gm)).toEqual([
      `auth     requisite  pam_exec.so quiet ${command}`,
      `account  requisite  pam_exec.so quiet ${command}`,
    ]);
    accountService = `${pamService}-account`;
    writeFileSync(
      join('/etc/pam.d', accountService),
      `auth required pam_permit.so\n${shipped.replaceAll(command, script).replace(/^auth .*$/m, '')}`,
    );
  });

  afterAll(async () => {
    if (pamService) rmSync(join('/etc/pam.d', pamService), { force: true });
    if (accountService) rmSync(join('/etc/pam.d', accountService), { force: true });
    if (brokenService) rmSync(join('/etc/pam.d', brokenService), { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
    await system?.stop();
  });

  it('denies before badge-in: exit 2 with the reason, and PAM refuses the login', async () => {
    const result = await check(online);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout.trim()).toBe('deny: not-present');
    expect((await pamtester(pamService, system.agent.person)).code).not.toBe(0);
    expect((await pamtester(accountService, system.agent.person, 'acct_mgmt')).code).not.toBe(0);
    // pam_exec discards the output; the system log has the verdict, per service and stage.
    const logged = syslog();
    expect(logged).toContain(`[${pamService}/auth] deny: not-present`);
    expect(logged).toContain(`[${accountService}/account] deny: not-present`);
    expect(logged).toMatch(
      /^args: --socket-errors=on -t identgate-workstation-check --id=\d+ -p authpriv\.notice$/m,
    );
    expect(logged).not.toContain(system.agent.person);
  });

  it('under PAM trusts no IDENTGATE_ variable of the PAM environment, only the configuration file', async () => {
    // This machine sets NODE_EXTRA_CA_CERTS for every process; under PAM a set NODE_ variable fails.
    const pam = {
      PAM_TYPE: 'auth',
      PAM_SERVICE: 'login',
      PAM_USER: system.agent.person,
      NODE_EXTRA_CA_CERTS: '',
    };
    // A URL override would send the check elsewhere: ignored, central still answers.
    const redirected = await runCli(['workstation', 'check', '--config', online], {
      env: { ...pam, IDENTGATE_URL: 'http://127.0.0.1:9', IDENTGATE_GRACE_SECONDS: '3600' },
    });
    expect(redirected.stdout.trim(), redirected.stderr).toBe('deny: not-present');
    // Nor does the environment choose the configuration: the default path, absent here.
    const elsewhere = await runCli(['workstation', 'check'], {
      env: { ...pam, IDENTGATE_WORKSTATION_CONFIG: online },
    });
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toContain('/etc/identgate/workstation.yaml');
    // Node's own settings from the PAM environment (certificate checks off): refused outright.
    const insecure = await runCli(['workstation', 'check', '--config', online], {
      env: { ...pam, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
    });
    expect(insecure.code).not.toBe(0);
    expect(insecure.stdout).toBe('');
    expect(insecure.stderr).toContain(
      'a login check run by PAM does not run with NODE_TLS_REJECT_UNAUTHORIZED set: run it through identgate-pam-check',
    );
  });

  it('allows after a simulated badge-in: exit 0, and PAM lets the user in', async () => {
    await badgeIn(system);
    const result = await check(online);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('allow');
    const pam = await pamtester(pamService, system.agent.person);
    expect(pam.code, pam.output).toBe(0);
    expect(pam.output).toMatch(/successfully authenticated/);
    const account = await pamtester(accountService, system.agent.person, 'acct_mgmt');
    expect(account.code, account.output).toBe(0);
    expect(syslog()).toMatch(/-p authpriv\.info\n\[identgate-test-[0-9a-f]+\/auth\] allow\n/);
  });

  it('while central is unreachable allows only within the grace after central’s last allow', async () => {
    const within = await check(offline);
    expect(within.code, within.stderr).toBe(0);
    expect(within.stdout).toMatch(/^allow \(grace\): central unreachable/);
    const none = await check(offlineNoGrace);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/^deny: central-unreachable/);
  });

  it('denies after badge-out, in PAM and, with central unreachable, without grace', async () => {
    await badgeOut(system);
    const pam = await pamtester(pamService, system.agent.person);
    expect(pam.code).not.toBe(0);
    expect((await pamtester(accountService, system.agent.person, 'acct_mgmt')).code).not.toBe(0);
    const result = await check(offline);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^deny: central-unreachable/);
  });

  it('break-glass: a wrong code is refused, the right one lets the user in while central is unreachable', async () => {
    writeFileSync(join(dir, 'wrong'), '000-000-000\n');
    const wrong = await runCli([
      'workstation',
      'break-glass',
      '--user',
      system.agent.person,
      '--reason',
      'dashboard down during shift',
      '--code-file',
      join(dir, 'wrong'),
      '--config',
      offline,
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(
      /wrong break-glass code \(the attempt is recorded\) \[IDG_BREAK_GLASS_CODE\]/,
    );
    writeFileSync(join(dir, 'code'), `${BREAK_GLASS_CODE}\n`);
    const granted = await runCli([
      'workstation',
      'break-glass',
      '--user',
      system.agent.person,
      '--reason',
      'dashboard down during shift',
      '--code-file',
      join(dir, 'code'),
      '--config',
      offline,
    ]);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toMatch(/central unreachable: the report .* goes out with the next check/);
    const login = await check(offline);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toMatch(/^allow \(break-glass\)/);
  });

  it('reports break-glass to central with the next check that reaches it: audited, critical alarm raised', async () => {
    const result = await check(online);
    // Central decides again as soon as it answers: the agent is not present.
    expect(result.stdout.trim()).toBe('deny: not-present');
    const audit = await system.dashboard.pool.query<{ action: string; actor: string }>(
      `SELECT action, actor FROM audit_log WHERE action LIKE 'workstation.break-glass-%' ORDER BY id`,
    );
    expect(audit.rows).toEqual([
      { action: 'workstation.break-glass-refused', actor: 'workstation:ws-pam' },
      { action: 'workstation.break-glass-granted', actor: 'workstation:ws-pam' },
    ]);
    const alarms = await system.dashboard.pool.query<{
      alarm: string;
      severity: string;
      occurrences: number;
    }>(`SELECT alarm, severity, occurrences FROM alarms WHERE alarm = 'workstation-break-glass'`);
    expect(alarms.rows).toEqual([{ alarm: 'workstation-break-glass', severity: 'critical', occurrences: 2 }]);
  });

  it('fails closed with a clear message when the configuration is missing', async () => {
    const result = await runCli([
      'workstation',
      'check',
      '--user',
      'ada',
      '--config',
      join(dir, 'nope.yaml'),
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/nope\.yaml.*cannot read the file/);
  });

  it('under PAM a broken configuration denies, and the system log says why, as an error', async () => {
    expect((await pamtester(brokenService, system.agent.person)).code).not.toBe(0);
    expect(syslog()).toMatch(new RegExp(`-p authpriv\\.err\\n\\[${brokenService}/auth\\] .*no-token`));
  });
});
