import { describe, expect, it } from 'vitest';
import { MqttSubscriber } from '../../../../src/dashboard/ingest/mqtt-subscriber.js';
import {
  type MqttSubscriberOptions,
  resolveOptions,
} from '../../../../src/dashboard/ingest/mqtt-subscriber-options.js';
import { silentLogger } from '../../../../src/lib/logger.js';

const base: MqttSubscriberOptions = {
  url: 'mqtt://broker.example:1883',
  clientId: 'dashboard-1',
  subscriptions: [{ topic: 'idg/+/+/events', qos: 1 }],
  log: silentLogger,
};

describe('MQTT subscriber options', () => {
  it('defaults to auto protocol, a 7-day persistent session, 30 s keep-alive and Receive Maximum 1000', () => {
    expect(resolveOptions(base)).toMatchObject({
      target: { host: 'broker.example', port: 1883, tls: undefined, display: 'mqtt://broker.example:1883' },
      protocol: 'auto',
      clean: false,
      sessionExpirySeconds: 604_800,
      keepaliveSeconds: 30,
      receiveMaximum: 1000,
      backoff: { initialMs: 100, maxMs: 10_000 },
    });
  });

  it('uses TLS on port 8883 for mqtts:// and passes the tls options through', () => {
    const resolved = resolveOptions({
      ...base,
      url: 'mqtts://broker.example',
      tls: { minVersion: 'TLSv1.3' },
    });
    expect(resolved.target).toMatchObject({ port: 8883, tls: { minVersion: 'TLSv1.3' } });
  });

  it('takes credentials from the URL but keeps them out of the display form', () => {
    const resolved = resolveOptions({ ...base, url: 'mqtt://ingest:s%40cret@[::1]:1884' });
    expect(resolved).toMatchObject({ username: 'ingest', password: Buffer.from('s@cret') });
    expect(resolved.target).toMatchObject({ host: '::1', port: 1884, display: 'mqtt://[::1]:1884' });
  });

  it('reports every problem at once with IDG_MQTT_CONFIG', () => {
    const bad: MqttSubscriberOptions = {
      ...base,
      url: 'http://broker.example',
      clientId: '',
      sharedGroup: 'a/b',
      receiveMaximum: 0,
      subscriptions: [{ topic: '$share/g/x', qos: 1 }],
    };
    expect(() => new MqttSubscriber(bad)).toThrow(
      expect.objectContaining({
        code: 'IDG_MQTT_CONFIG',
        message: expect.stringMatching(
          /5 option problem\(s\)[\s\S]*mqtt:\/\/[\s\S]*clientId[\s\S]*\$share[\s\S]*sharedGroup[\s\S]*receiveMaximum/,
        ),
      }),
    );
  });

  it('refuses tls options on a plain mqtt:// URL', () => {
    expect(() => resolveOptions({ ...base, tls: { minVersion: 'TLSv1.3' } })).toThrow(/mqtts:\/\//);
  });
});
