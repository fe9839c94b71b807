import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import { mqttTlsOptions } from '../config/tls-material.js';
import {
  WorkstationClientConfig as Schema,
  type WorkstationClientConfig,
} from '../config/workstation-config.js';
import { auditedChange } from '../dashboard/audit/audited-change.js';
import { WorkstationStore } from '../dashboard/storage/workstation-store.js';
import { type Clock, systemClock } from '../lib/clock.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { importCentralKeys } from '../protocol/signing.js';
import { CentralClient } from '../workstation/central-client.js';
import { eraseLocalUser, type LocalErasure } from '../workstation/local-erasure.js';
import { LockAgent, type LockAgentOptions } from '../workstation/lock-agent.js';
import { LoginGate } from '../workstation/login-gate.js';
import { USER_PATTERN } from '../workstation/state-layout.js';
import { ExitCode, UsageError } from './cli-error.js';
import { cliActor, withDashboardDatabase } from './dashboard-database.js';
import type { PamSyslog } from './pam-syslog.js';

/**
 * `identgate workstation …`: the login check PAM (pam_exec) or a credential provider calls, the
 * break-glass procedure, and, on the central side, registering a workstation and its token.
 */
export const WORKSTATION_USAGE = `usage:
  identgate workstation check [--user <name>] [--workstation <id>] [--config <workstation.yaml>]
    exit 0: allowed; exit 2: denied, with the reason on stdout. The user defaults to $PAM_USER.
    Central unreachable: allowed only within graceSeconds of central's last allow, else denied.
  identgate workstation break-glass --user <name> --reason <text> [--code-file <file>] [--config …]
    emergency login while central is unreachable: the sealed code from stdin (or the file);
    journaled locally and reported to central, where it is audited and raises an alarm
  identgate workstation agent [--config <workstation.yaml>]
    lock on leave: runs agent.lockCommand for each verified lock command (also one that arrives
    late, issued within agent.lateLockHours), once for all waiting; reports every result
  identgate workstation erase --user <name> [--config <workstation.yaml>]
    the workstation half of a person's erasure (people erase cannot reach workstations): removes
    the user's last allow, break-glass grant, journal lines and pending reports here; prints counts
  identgate workstation register --id <host> --site <site> --room <room> --config <dashboard.yaml>
    registers (or moves) a workstation and prints its new token once
  The workstation configuration: --config, else $IDENTGATE_WORKSTATION_CONFIG, else
  /etc/identgate/workstation.yaml (docs/workstations.md).`;

export const DEFAULT_WORKSTATION_CONFIG = '/etc/identgate/workstation.yaml';

/**
 * Node reads NODE_ variables of its environment before identgate runs (NODE_TLS_REJECT_UNAUTHORIZED
 * turns certificate checks off, NODE_OPTIONS loads code): under pam_exec that environment is the
 * PAM environment. The shipped wrapper (hardware/pam/identgate-pam-check) starts the check with
 * none; a check that finds one set anyway fails, which PAM takes as a denial.
 */
function refuseNodeSettings(env: NodeJS.ProcessEnv): void {
  const set = Object.keys(env).filter((name) => name.startsWith('NODE_') && name !== 'NODE_ENV' && env[name]);
  if (set.length > 0)
    throw new ConfigError('environment', [
      `a login check run by PAM does not run with ${set.join(', ')} set: run it through identgate-pam-check (docs/workstations.md)`,
    ]);
}

/** Only the items pam_exec sets itself (`PAM_USER`, `PAM_TYPE`, `PAM_SERVICE`, …). */
function pamItems(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('PAM_')));
}

export interface WorkstationRun {
  code: number;
  lines: string[];
}

export function loadWorkstationConfig(file: string | undefined, env = process.env): WorkstationClientConfig {
  const path = file ?? env.IDENTGATE_WORKSTATION_CONFIG ?? DEFAULT_WORKSTATION_CONFIG;
  if (!file && !existsSync(path))
    throw new ConfigError(path, [
      'no workstation configuration: pass --config or set IDENTGATE_WORKSTATION_CONFIG',
    ]);
  return loadConfigFile(path, Schema, { env });
}

function workstationToken(config: WorkstationClientConfig, env = process.env): string {
  if (config.token) return resolveSecret(config.token, 'token', env);
  const fromEnv = env.IDENTGATE_WORKSTATION_TOKEN;
  if (!fromEnv)
    throw new ConfigError('token', [
      'set token: { file: … } in the configuration or IDENTGATE_WORKSTATION_TOKEN',
    ]);
  return fromEnv;
}

function centralClient(
  config: WorkstationClientConfig,
  workstation: string,
  env = process.env,
): CentralClient {
  return new CentralClient({
    url: config.url,
    workstation,
    token: workstationToken(config, env),
    timeoutMs: Math.round(config.timeoutSeconds * 1000),
    ...(config.ca ? { caFile: config.ca } : {}),
  });
}

export function loginGate(
  config: WorkstationClientConfig,
  workstation = config.id,
  env = process.env,
  note?: (line: string) => void,
): LoginGate {
  return new LoginGate({
    client: centralClient(config, workstation, env),
    clock: systemClock,
    stateDir: config.stateDir,
    graceMs: config.graceSeconds * 1000,
    retentionDays: config.retentionDays,
    ...(config.breakGlass ? { breakGlass: config.breakGlass } : {}),
    log: stderrLogger('workstation-gate', note),
  });
}

/**
 * The login check's stdout is its verdict (PAM, scripts): its log lines go to stderr, and to
 * `note` (the system log, when pam_exec runs the check: pam-syslog.ts).
 */
function stderrLogger(component: string, note?: (line: string) => void): Logger {
  return createLogger({
    bindings: { component },
    write: (line) => {
      process.stderr.write(`${line}\n`);
      note?.(line);
    },
  });
}

export function lockAgent(
  config: WorkstationClientConfig,
  env = process.env,
  onResult?: LockAgentOptions['onResult'],
  clock: Clock = systemClock,
  systemStopping?: LockAgentOptions['systemStopping'],
): LockAgent {
  const settings = config.agent;
  if (!settings)
    throw new ConfigError('agent', [
      'the workstation agent needs the agent: section (site, mqtt, centralPublicKey)',
    ]);
  const { mqtt, centralPublicKey, alsoTrustedCentralKeys = [] } = settings;
  const log = createLogger({ bindings: { component: 'workstation-agent' } });
  log.info(
    { centralKeys: [centralPublicKey, ...alsoTrustedCentralKeys] },
    'lock commands are accepted when signed by one of these central keys',
  );
  return new LockAgent({
    site: settings.site,
    workstation: config.id,
    url: mqtt.url,
    ...(mqtt.clientId ? { clientId: mqtt.clientId } : {}),
    ...(mqtt.username ? { username: mqtt.username } : {}),
    ...(mqtt.password ? { password: resolveSecret(mqtt.password, 'agent.mqtt.password', env) } : {}),
    tls: mqttTlsOptions(mqtt.tls, mqtt.url, 'agent.mqtt.tls', env),
    centralKey: importCentralKeys(centralPublicKey, alsoTrustedCentralKeys),
    lockCommand: settings.lockCommand,
    lockTimeoutMs: settings.lockTimeoutSeconds * 1000,
    lateMs: Math.round(settings.lateLockHours * 3_600_000),
    stateDir: config.stateDir,
    graceMs: config.graceSeconds * 1000,
    retentionDays: config.retentionDays,
    central: centralClient(config, config.id, env),
    clock,
    ...(systemStopping ? { systemStopping } : {}),
    log,
    ...(onResult ? { onResult } : {}),
  });
}

function erasureLines(user: string, erased: LocalErasure): string[] {
  const lines = [
    `erased the local traces of ${user} on this workstation: ${erased.confirmed} confirmed login(s), ${erased.grants} break-glass grant(s), ${erased.journalLines} journal line(s), ${erased.reports} pending break-glass report(s)`,
  ];
  if (erased.reports > 0)
    lines.push('the pending reports had not reached central: it will not hear of that break-glass use');
  return lines;
}

/**
 * `syslog`: where a check's output also goes under pam_exec (pam-syslog.ts). Under pam_exec the
 * environment is the PAM environment, which other modules fill and the administrator does not
 * control: a check then reads nothing from it but the `PAM_` items (no IDENTGATE_ overrides, no
 * configuration path, no token), only the configuration file its PAM line names.
 */
export async function runWorkstation(
  args: string[],
  processEnv = process.env,
  syslog?: PamSyslog,
): Promise<WorkstationRun> {
  if (processEnv.PAM_TYPE) refuseNodeSettings(processEnv);
  const env = processEnv.PAM_TYPE ? pamItems(processEnv) : processEnv;
  const note = syslog ? (line: string) => syslog.note(line) : undefined;
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      user: { type: 'string' },
      workstation: { type: 'string' },
      reason: { type: 'string' },
      id: { type: 'string' },
      site: { type: 'string' },
      room: { type: 'string' },
      name: { type: 'string' },
      'code-file': { type: 'string' },
    },
  });
  const [verb, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(WORKSTATION_USAGE);
  switch (verb) {
    case 'check': {
      const user = values.user ?? env.PAM_USER;
      if (!user)
        throw new UsageError(
          `identgate workstation check needs --user (or PAM_USER)\n\n${WORKSTATION_USAGE}`,
        );
      const config = loadWorkstationConfig(values.config, env);
      syslog?.useProgram(config.syslogProgram);
      const verdict = await loginGate(config, values.workstation ?? config.id, env, note).check(user);
      if (verdict.allow) {
        return {
          code: ExitCode.ok,
          lines: [verdict.via === 'central' ? 'allow' : `allow (${verdict.via}): ${verdict.detail}`],
        };
      }
      return {
        code: ExitCode.denied,
        lines: [`deny: ${verdict.reason}${verdict.detail ? ` (${verdict.detail})` : ''}`],
      };
    }
    case 'break-glass': {
      if (!values.user || !values.reason)
        throw new UsageError(
          `identgate workstation break-glass needs --user and --reason\n\n${WORKSTATION_USAGE}`,
        );
      const config = loadWorkstationConfig(values.config, env);
      // The code never goes on the command line (it would show in ps and shell history).
      const code = readFileSync(values['code-file'] ?? 0, 'utf8').split('\n')[0] ?? '';
      const grant = await loginGate(config, config.id, env, note).breakGlass(
        values.user,
        code,
        values.reason,
      );
      return {
        code: ExitCode.ok,
        lines: [
          `break-glass granted to ${values.user} until ${new Date(grant.until).toISOString()} while central is unreachable`,
          grant.reported
            ? 'reported to central: a critical alarm is raised'
            : 'central unreachable: the report (and its alarm) goes out with the next check that reaches central',
        ],
      };
    }
    case 'agent': {
      const config = loadWorkstationConfig(values.config, env);
      const agent = lockAgent(config, env);
      await agent.start();
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await agent.stop();
      return { code: ExitCode.ok, lines: ['workstation agent stopped'] };
    }
    case 'erase': {
      const user = values.user;
      if (!user || !USER_PATTERN.test(user))
        throw new UsageError(
          `identgate workstation erase needs --user with a valid user name (letters, digits, _ and -, at most 64)\n\n${WORKSTATION_USAGE}`,
        );
      const config = loadWorkstationConfig(values.config, env);
      const erased = eraseLocalUser(config.stateDir, user, systemClock);
      return { code: ExitCode.ok, lines: erasureLines(user, erased) };
    }
    case 'register': {
      const { id, site, room, name } = values;
      if (!id || !site || !room)
        throw new UsageError(
          `identgate workstation register needs --id, --site and --room\n\n${WORKSTATION_USAGE}`,
        );
      return withDashboardDatabase(values.config, 'workstation register', async ({ pool }) => {
        // The new token replaces the old one only together with its audit entry.
        const token = await auditedChange(
          pool,
          (db) => new WorkstationStore(pool).register({ id, site, room, ...(name ? { name } : {}) }, db),
          () => ({
            actor: cliActor(),
            action: 'workstation.register',
            target: `workstation:${id}`,
            details: { site, room },
          }),
        );
        return {
          code: ExitCode.ok,
          lines: [
            `workstation ${id} registered in ${site}/${room}; its token (shown once, any earlier token no longer works):`,
            token,
          ],
        };
      });
    }
    default:
      throw new UsageError(WORKSTATION_USAGE);
  }
}
