import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import {
  connackVerdict,
  type ProtocolVersion,
  readGrant,
  reasonName,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
} from './mqtt-reason-codes.js';
import type { ResolvedOptions } from './mqtt-subscriber-options.js';

/**
 * The subscriber's side of the handshake: the CONNECT it sends, what the CONNACK means, the
 * SUBSCRIBE that follows, and what the SUBACK means.
 */
export function connectPacket(options: ResolvedOptions, version: ProtocolVersion): IConnectPacket {
  const { clientId, clean, keepaliveSeconds, username, password } = options;
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clientId,
    clean,
    keepalive: keepaliveSeconds,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    // No Topic Alias Maximum: the broker must then always send the topic name.
    ...(version === 5
      ? {
          properties: {
            sessionExpiryInterval: clean ? 0 : options.sessionExpirySeconds,
            receiveMaximum: options.receiveMaximum,
          },
        }
      : {}),
  };
}

export type ConnackOutcome =
  | { kind: 'accepted'; properties: NonNullable<IConnackPacket['properties']> }
  | {
      kind: 'refused';
      reason: 'unsupported-version' | 'connect-refused';
      code: number;
      description: string;
    }
  | { kind: 'malformed'; detail: string };

/** Reads the CONNACK to a CONNECT sent as `version`: accepted with its properties, or why not. */
export function readConnack(packet: IConnackPacket, version: ProtocolVersion): ConnackOutcome {
  const code = packet.reasonCode ?? packet.returnCode ?? 0;
  const verdict = connackVerdict(code, version);
  if (verdict.kind !== 'accepted') {
    const reason = verdict.kind === 'unsupported-version' ? 'unsupported-version' : 'connect-refused';
    return { kind: 'refused', reason, code, description: verdict.description };
  }
  const properties = packet.properties ?? {};
  // A property given twice is a protocol error (MQTT 5 §3.2.2.3); the parser makes it a list.
  const repeated = Object.entries(properties).find(
    ([name, value]) => name !== 'userProperties' && Array.isArray(value),
  );
  if (repeated)
    return { kind: 'malformed', detail: `CONNACK gives the property ${repeated[0]} more than once` };
  return { kind: 'accepted', properties };
}

/** A topic as a shared subscription of `group` (MQTT 5). */
function sharedFilter(group: string, topic: string): string {
  return `$share/${group}/${topic}`;
}

/** One SUBSCRIBE as sent: all configured topics, shared (`$share/<group>/…`) or plain. */
export interface SubscribeRequest {
  messageId: number;
  filters: string[];
  shared: boolean;
}

export type SubackOutcome =
  | { kind: 'granted'; filters: string[]; shared: boolean; qos0: string[] }
  | { kind: 'shared-refused' }
  | { kind: 'refused'; detail: string; code: number | undefined };

export function subscribeRequest(
  topics: readonly string[],
  group: string | undefined,
  messageId: number,
): SubscribeRequest {
  const filters = topics.map((topic) => (group === undefined ? topic : sharedFilter(group, topic)));
  return { messageId, filters, shared: group !== undefined };
}

/**
 * What a resumed session may still hold that this subscription does not want: the other form
 * (plain or `$share/<group>/…`) of its topics, left by a run that fell back to 3.1.1 or had
 * shared subscriptions refused, and both forms of retired topics.
 */
export function staleFilters(
  topics: readonly string[],
  retired: readonly string[],
  group: string | undefined,
  granted: readonly string[],
): string[] {
  const wanted = new Set(granted);
  const forms = (topic: string) => (group === undefined ? [topic] : [topic, sharedFilter(group, topic)]);
  return [...new Set([...topics, ...retired].flatMap(forms))].filter((filter) => !wanted.has(filter));
}

/**
 * Reads the SUBACK for `request`. A broker without shared subscriptions answers 0x9E (MQTT 5)
 * for `$share/` filters; the caller then subscribes to the plain topics instead.
 */
export function readSuback(
  request: SubscribeRequest,
  granted: unknown[],
  version: ProtocolVersion,
): SubackOutcome {
  const grants = granted.map((code) => readGrant(typeof code === 'number' ? code : 0x80));
  const refused = grants.flatMap((grant, i) =>
    grant.ok ? [] : [{ filter: request.filters[i], code: grant.code }],
  );
  if (request.shared && refused.some((r) => r.code === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)) {
    return { kind: 'shared-refused' };
  }
  if (refused.length > 0 || grants.length !== request.filters.length) {
    const detail =
      refused.map((r) => `${r.filter}: ${reasonName(r.code, version)}`).join('; ') ||
      `${grants.length} grants for ${request.filters.length} filters`;
    return { kind: 'refused', detail, code: refused[0]?.code };
  }
  const qos0 = request.filters.filter((_, i) => {
    const grant = grants[i];
    return grant?.ok === true && grant.qos === 0;
  });
  return { kind: 'granted', filters: request.filters, shared: request.shared, qos0 };
}
