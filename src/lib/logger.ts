/**
 * A small structured logger with the method set Fastify expects of a pino-compatible logger.
 * JSON lines for machines (`IDENTGATE_LOG_FORMAT=json`, the default when stdout is not a TTY),
 * one readable line per record on a terminal.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

const LEVELS: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 100,
};

type LogFn = (objOrMsg: unknown, msg?: string, ...rest: unknown[]) => void;

export interface Logger {
  level: string;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  silent: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'json' | 'pretty';
  bindings?: Record<string, unknown>;
  write?: (line: string) => void;
}

function serialiseError(error: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: error.name, message: error.message };
  if ('code' in error && error.code !== undefined) out.code = error.code;
  if (error.stack) out.stack = error.stack;
  return out;
}

function normalise(value: unknown): unknown {
  if (value instanceof Error) return serialiseError(value);
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const envLevel = process.env.IDENTGATE_LOG_LEVEL as LogLevel | undefined;
  const level: LogLevel = options.level ?? (envLevel && envLevel in LEVELS ? envLevel : 'info');
  const format =
    options.format ??
    (process.env.IDENTGATE_LOG_FORMAT === 'json' ||
    (!process.stdout.isTTY && process.env.IDENTGATE_LOG_FORMAT !== 'pretty')
      ? 'json'
      : 'pretty');
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  return build(level, format, options.bindings ?? {}, write);
}

function build(
  level: LogLevel,
  format: 'json' | 'pretty',
  bindings: Record<string, unknown>,
  write: (line: string) => void,
): Logger {
  const threshold = LEVELS[level];
  const emit =
    (name: Exclude<LogLevel, 'silent'>): LogFn =>
    (objOrMsg, msg) => {
      if (LEVELS[name] < threshold) return;
      let fields: Record<string, unknown> = {};
      let message = msg;
      if (typeof objOrMsg === 'string') message = objOrMsg;
      else if (objOrMsg instanceof Error) fields = { err: serialiseError(objOrMsg) };
      else if (objOrMsg && typeof objOrMsg === 'object') {
        for (const [key, value] of Object.entries(objOrMsg)) fields[key] = normalise(value);
      }
      const record = {
        level: name,
        time: new Date().toISOString(),
        ...bindings,
        ...fields,
        msg: message ?? '',
      };
      write(format === 'json' ? JSON.stringify(record) : pretty(record));
    };
  return {
    level,
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    fatal: emit('fatal'),
    silent: () => {},
    child: (more) => build(level, format, { ...bindings, ...more }, write),
  };
}

function pretty(record: Record<string, unknown>): string {
  const { level, time, msg, component, err, ...rest } = record;
  const extras = Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
  const where = component ? `[${component}] ` : '';
  const errText =
    err && typeof err === 'object'
      ? `\n  ${(err as { stack?: string; message?: string }).stack ?? (err as { message?: string }).message}`
      : '';
  return `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${where}${msg}${extras ? `  ${extras}` : ''}${errText}`;
}

export const silentLogger: Logger = createLogger({ level: 'silent', format: 'json', write: () => {} });
