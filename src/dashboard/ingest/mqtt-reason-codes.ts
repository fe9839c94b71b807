/**
 * What the broker's numeric answers mean: CONNACK return/reason codes, SUBACK grants and
 * DISCONNECT reasons, with names for logs and errors.
 */
export type ProtocolVersion = 4 | 5;

const MQTT5_REASONS: Record<number, string> = {
  0: 'success',
  4: 'disconnect with will message',
  128: 'unspecified error',
  129: 'malformed packet',
  130: 'protocol error',
  131: 'implementation specific error',
  132: 'unsupported protocol version',
  133: 'client identifier not valid',
  134: 'bad user name or password',
  135: 'not authorized',
  136: 'server unavailable',
  137: 'server busy',
  138: 'banned',
  139: 'server shutting down',
  140: 'bad authentication method',
  141: 'keep alive timeout',
  142: 'session taken over',
  143: 'topic filter invalid',
  144: 'topic name invalid',
  147: 'receive maximum exceeded',
  148: 'topic alias invalid',
  149: 'packet too large',
  150: 'message rate too high',
  151: 'quota exceeded',
  152: 'administrative action',
  153: 'payload format invalid',
  154: 'retain not supported',
  155: 'QoS not supported',
  156: 'use another server',
  157: 'server moved',
  158: 'shared subscriptions not supported',
  159: 'connection rate exceeded',
  160: 'maximum connect time',
  161: 'subscription identifiers not supported',
  162: 'wildcard subscriptions not supported',
};

const MQTT311_CODES: Record<number, string> = {
  0: 'connection accepted',
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
  128: 'failure',
};

export const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9e;
export const SUBACK_FAILURE = 0x80;

/** "not authorized (0x87)": the name and the code, for logs and error messages. */
export function reasonName(code: number, version: ProtocolVersion): string {
  const table = version === 5 ? MQTT5_REASONS : MQTT311_CODES;
  const name = table[code] ?? 'unknown reason';
  return `${name} (0x${code.toString(16).padStart(2, '0')})`;
}

export type ConnackVerdict =
  | { kind: 'accepted' }
  | { kind: 'unsupported-version'; description: string }
  | { kind: 'refused'; code: number; description: string };

/**
 * Reads a CONNACK parsed with the settings of `version`. A broker that does not speak MQTT 5
 * answers a v5 CONNECT with a 3.1.1 CONNACK (return code 1), which the v5 parser reads as
 * reason code 1: any code below 0x80 other than success is such a 3.1.1 answer.
 */
export function connackVerdict(code: number, version: ProtocolVersion): ConnackVerdict {
  if (code === 0) return { kind: 'accepted' };
  const answeredIn: ProtocolVersion = version === 5 && code < 0x80 ? 4 : version;
  const description = reasonName(code, answeredIn);
  if (code === 0x84 || code === 1) return { kind: 'unsupported-version', description };
  return { kind: 'refused', code, description };
}

/** Per filter of a SUBACK: granted (with its QoS) or refused (with its reason code). */
export type Grant = { ok: true; qos: number } | { ok: false; code: number };

export function readGrant(code: number): Grant {
  return code < SUBACK_FAILURE ? { ok: true, qos: code } : { ok: false, code };
}
