import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import type { DashboardConfig } from '../config/dashboard-config.js';
import { mqttTlsOptions } from '../config/tls-material.js';
import { CodedError } from '../lib/coded-error.js';
import type { Logger } from '../lib/logger.js';
import type { TlsClientOptions } from '../lib/tls-profile.js';

export interface CentralMqttOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: TlsClientOptions;
}

/**
 * A broker connection of the central side that sends (commands, credential sets, footage
 * requests): a clean session, reconnecting every second; resolves once connected, however long
 * the broker takes. `purpose` names it in the log. Aborting `signal` (a stop during the start)
 * ends the client and rejects with IDG_MQTT_STOPPED.
 */
export async function connectCentralMqtt(
  options: CentralMqttOptions,
  purpose: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<MqttClient> {
  const { url, clientId, username, password, tls } = options;
  const clientOptions: IClientOptions = {
    ...tls,
    clientId,
    clean: true,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
  const stopped = () => new CodedError('IDG_MQTT_STOPPED', `${purpose}: stopped before the broker answered`);
  if (signal?.aborted) throw stopped();
  const client = connect(url, clientOptions);
  client.on('error', (error) => log.warn({ err: error }, `${purpose} broker connection error`));
  await new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      client.end(true);
      reject(stopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('connect', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
  });
  return client;
}

/**
 * The dashboard's broker connection as configured; each of its connections adds its purpose to
 * `clientId` (the ingest's is `clientId` itself). Throws when the TLS material is unusable.
 */
export function dashboardMqtt(config: DashboardConfig, password: string | undefined): CentralMqttOptions {
  return {
    url: config.mqtt.url,
    clientId: config.mqtt.clientId ?? 'identgate-dashboard',
    username: config.mqtt.username,
    password,
    tls: mqttTlsOptions(config.mqtt.tls, config.mqtt.url),
  };
}
