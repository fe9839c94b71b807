import {
  BROKER_QUEUE_DEFAULTS,
  type BrokerQueueLimits,
  EXPIRATION_UNIT_SECONDS,
  MIN_CLIENT_EXPIRATION_SECONDS,
  MOSQUITTO_INT_MAX,
} from '../pki/mosquitto-config.js';
import { UsageError } from './cli-error.js';

/** The options of `pki mosquitto-config` that set Mosquitto's queue and session limits. */
export interface BrokerLimitFlags {
  'max-queued-messages'?: string | undefined;
  'max-queued-bytes'?: string | undefined;
  'persistent-client-expiration'?: string | undefined;
}

const BYTE_UNITS = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

function queuedMessages(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const count = Number(text);
  return count <= MOSQUITTO_INT_MAX ? count : undefined;
}

function queuedBytes(text: string): number | undefined {
  const match = /^(\d+)(KiB|MiB|GiB)?$/.exec(text);
  if (!match) return undefined;
  const unit = match[2] as keyof typeof BYTE_UNITS | undefined;
  const bytes = Number(match[1]) * (unit ? BYTE_UNITS[unit] : 1);
  return bytes <= MOSQUITTO_INT_MAX ? bytes : undefined;
}

/** Written back without leading zeros: `14d`. */
function expiration(text: string): string | undefined {
  const match = /^(\d+)([hdwmy])$/.exec(text);
  if (!match) return undefined;
  const count = Number(match[1]);
  const unit = match[2] as keyof typeof EXPIRATION_UNIT_SECONDS;
  const seconds = count * EXPIRATION_UNIT_SECONDS[unit];
  if (seconds < MIN_CLIENT_EXPIRATION_SECONDS || seconds > MOSQUITTO_INT_MAX) return undefined;
  return `${count}${unit}`;
}

/**
 * Checked here rather than left to Mosquitto, which takes `max_queued_bytes 1G` as 1 byte, wraps a
 * number beyond 2^31 - 1 around, and refuses a bad duration only when the broker next starts.
 * Every wrong option is named in one error.
 */
export function brokerLimits(flags: BrokerLimitFlags): BrokerQueueLimits {
  const problems: string[] = [];
  function option<T>(flag: keyof BrokerLimitFlags, parse: (text: string) => T | undefined, allowed: string) {
    const text = flags[flag];
    if (text === undefined) return undefined;
    const value = parse(text);
    if (value === undefined) problems.push(`--${flag} must be ${allowed}, got ${JSON.stringify(text)}`);
    return value;
  }
  const maxQueuedMessages = option(
    'max-queued-messages',
    queuedMessages,
    `a whole number from 0 (no limit) to ${MOSQUITTO_INT_MAX}`,
  );
  const maxQueuedBytes = option(
    'max-queued-bytes',
    queuedBytes,
    `from 0 (no limit) to ${MOSQUITTO_INT_MAX} bytes (Mosquitto 2.0 reads a 32-bit number), in bytes or with KiB, MiB or GiB (e.g. 512MiB)`,
  );
  const persistentClientExpiration = option(
    'persistent-client-expiration',
    expiration,
    "a whole number and h, d, w, m (30 days) or y (365 days), from 7d (the dashboard's ingest keeps its session 7 days) to 68y",
  );
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return {
    maxQueuedMessages: maxQueuedMessages ?? BROKER_QUEUE_DEFAULTS.maxQueuedMessages,
    maxQueuedBytes: maxQueuedBytes ?? BROKER_QUEUE_DEFAULTS.maxQueuedBytes,
    persistentClientExpiration:
      persistentClientExpiration ?? BROKER_QUEUE_DEFAULTS.persistentClientExpiration,
  };
}
