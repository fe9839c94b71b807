import type { IConnackPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import {
  connectPacket,
  readConnack,
  readSuback,
  subscribeRequest,
} from '../../../../src/dashboard/ingest/mqtt-handshake.js';
import { resolveOptions } from '../../../../src/dashboard/ingest/mqtt-subscriber-options.js';
import { silentLogger } from '../../../../src/lib/logger.js';

const options = resolveOptions({
  url: 'mqtt://ingest:secret@broker.example',
  clientId: 'dashboard-1',
  subscriptions: [{ topic: 'idg/+/+/events', qos: 1 }],
  log: silentLogger,
});

describe('MQTT handshake', () => {
  it('asks MQTT 5 brokers for a persistent session and a Receive Maximum', () => {
    expect(connectPacket(options, 5)).toMatchObject({
      protocolVersion: 5,
      clientId: 'dashboard-1',
      clean: false,
      username: 'ingest',
      properties: { sessionExpiryInterval: 604_800, receiveMaximum: 1000 },
    });
  });

  it('sends a 3.1.1 CONNECT without properties, cleanSession off', () => {
    const packet = connectPacket(options, 4);
    expect(packet).toMatchObject({ protocolVersion: 4, clean: false });
    expect(packet.properties).toBeUndefined();
  });

  it('prefixes every topic with $share/<group>/ for a shared subscription', () => {
    expect(subscribeRequest(['a/#', 'b/+'], 'ingest', 1)).toEqual({
      messageId: 1,
      filters: ['$share/ingest/a/#', '$share/ingest/b/+'],
      shared: true,
    });
    expect(subscribeRequest(['a/#'], undefined, 2)).toEqual({
      messageId: 2,
      filters: ['a/#'],
      shared: false,
    });
  });

  it('reads a SUBACK granting every filter, noting those granted only QoS 0', () => {
    const request = subscribeRequest(['a', 'b'], undefined, 1);
    expect(readSuback(request, [1, 0], 5)).toEqual({
      kind: 'granted',
      filters: ['a', 'b'],
      shared: false,
      qos0: ['b'],
    });
  });

  it('reads 0x9E on a shared subscription as "shared subscriptions refused"', () => {
    expect(readSuback(subscribeRequest(['a'], 'g', 1), [0x9e], 5)).toEqual({ kind: 'shared-refused' });
  });

  it('reads other failures as a refusal naming each filter and reason', () => {
    expect(readSuback(subscribeRequest(['a', 'b'], undefined, 1), [1, 0x87], 5)).toEqual({
      kind: 'refused',
      detail: 'b: not authorized (0x87)',
      code: 0x87,
    });
    expect(readSuback(subscribeRequest(['a'], undefined, 1), [0x80], 4)).toMatchObject({
      kind: 'refused',
      detail: 'a: failure (0x80)',
    });
  });

  it('refuses a SUBACK with fewer grants than filters', () => {
    expect(readSuback(subscribeRequest(['a', 'b'], undefined, 1), [1], 5)).toMatchObject({
      kind: 'refused',
      detail: '1 grants for 2 filters',
    });
  });

  it('reads a CONNACK with reason code 0 as accepted, with its properties', () => {
    const packet: IConnackPacket = {
      cmd: 'connack',
      sessionPresent: true,
      reasonCode: 0,
      properties: { maximumQoS: 1 },
    };
    expect(readConnack(packet, 5)).toEqual({ kind: 'accepted', properties: { maximumQoS: 1 } });
  });

  it('reads a 3.1.1 answer to an MQTT 5 CONNECT as an unsupported version', () => {
    expect(readConnack({ cmd: 'connack', sessionPresent: false, reasonCode: 1 }, 5)).toMatchObject({
      kind: 'refused',
      reason: 'unsupported-version',
      code: 1,
    });
  });

  it('reads a refused CONNACK as a refusal with its reason code', () => {
    expect(readConnack({ cmd: 'connack', sessionPresent: false, reasonCode: 0x87 }, 5)).toMatchObject({
      kind: 'refused',
      reason: 'connect-refused',
      code: 0x87,
    });
  });

  it('refuses a CONNACK that gives a property twice', () => {
    const properties = { serverKeepAlive: [10, 20] } as unknown as { serverKeepAlive: number };
    expect(readConnack({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties }, 5)).toEqual({
      kind: 'malformed',
      detail: 'CONNACK gives the property serverKeepAlive more than once',
    });
  });
});
