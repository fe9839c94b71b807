import { isId } from './ids.js';

/** Every topic identgate uses starts here; the version segment changes only with an incompatible protocol. */
export const TOPIC_ROOT = 'identgate/v1';

export type TopicChannel = 'events' | 'status' | 'door-state' | 'commands' | 'credentials';

export interface TopicAddress {
  site: string;
  gateway: string;
  channel: TopicChannel;
  /** Present for door-state topics only. */
  door?: string;
}

function assertId(kind: string, value: string): void {
  if (!isId(value)) {
    throw new Error(`invalid ${kind} id ${JSON.stringify(value)} for an MQTT topic`);
  }
}

function base(site: string, gateway: string): string {
  assertId('site', site);
  assertId('gateway', gateway);
  return `${TOPIC_ROOT}/${site}/${gateway}`;
}

export const topics = {
  /** Signed event envelopes, QoS 1, never retained. */
  events: (site: string, gateway: string) => `${base(site, gateway)}/events`,
  /** Retained `online` / `offline` (the Last Will). */
  status: (site: string, gateway: string) => `${base(site, gateway)}/status`,
  /** Retained current state of one door. */
  doorState: (site: string, gateway: string, door: string) => {
    assertId('door', door);
    return `${base(site, gateway)}/doors/${door}/state`;
  },
  /** Signed commands from the central side to one gateway, never retained. */
  commands: (site: string, gateway: string) => `${base(site, gateway)}/commands`,
  /** The gateway's encrypted credential set, published by the central side. */
  credentials: (site: string, gateway: string) => `${base(site, gateway)}/credentials`,
  /** Signed footage requests from the central side to one gateway, never retained. */
  footageRequests: (site: string, gateway: string) => `${base(site, gateway)}/footage-requests`,
  /** The encrypted answer to one footage request (docs/video.md, playback). */
  footage: (site: string, gateway: string, request: string) => {
    if (!/^[0-9a-f-]{36}$/.test(request)) throw new Error(`invalid request id ${JSON.stringify(request)}`);
    return `${base(site, gateway)}/footage/${request}`;
  },
} as const;

/** Subscription filters for the central side: every gateway of one site, or of all sites. */
export const subscriptions = {
  events: (site?: string) => `${TOPIC_ROOT}/${site ?? '+'}/+/events`,
  status: (site?: string) => `${TOPIC_ROOT}/${site ?? '+'}/+/status`,
  doorState: (site?: string) => `${TOPIC_ROOT}/${site ?? '+'}/+/doors/+/state`,
} as const;

export type TopicParseResult = { ok: true; address: TopicAddress } | { ok: false; reason: string };

const simpleChannels: ReadonlySet<string> = new Set(['events', 'status', 'commands', 'credentials']);

export function parseTopic(topic: string): TopicParseResult {
  const parts = topic.split('/');
  if (parts.length < 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) {
    return {
      ok: false,
      reason: `topic ${JSON.stringify(topic)} is not under ${TOPIC_ROOT}/<site>/<gateway>/`,
    };
  }
  const [, , site = '', gateway = '', channel = '', door, leaf] = parts;
  if (!isId(site)) return { ok: false, reason: `invalid site segment ${JSON.stringify(site)}` };
  if (!isId(gateway)) return { ok: false, reason: `invalid gateway segment ${JSON.stringify(gateway)}` };
  if (parts.length === 5 && simpleChannels.has(channel)) {
    return { ok: true, address: { site, gateway, channel: channel as TopicChannel } };
  }
  if (parts.length === 7 && channel === 'doors' && leaf === 'state' && door !== undefined && isId(door)) {
    return { ok: true, address: { site, gateway, channel: 'door-state', door } };
  }
  return { ok: false, reason: `unknown channel in topic ${JSON.stringify(topic)}` };
}
