import type { MqttClient } from 'mqtt';

/**
 * A QoS 1 publish that can be taken back while the broker has not acknowledged it. MQTT.js keeps
 * an unacknowledged message in its store and sends it again after a reconnect, however late; a
 * signed request that its sender gave up on (a command, a footage request) would then reach the
 * gateway after its validity window and raise a critical `command-rejected` alarm there, or make
 * it work for nobody.
 */
export interface WithdrawablePublish {
  /**
   * Resolves with the broker's acknowledgement; rejects when the message cannot be sent (the
   * client is ending) or was withdrawn. Never an unhandled rejection, awaited or not.
   */
  acknowledged: Promise<void>;
  /** Takes the message out of the client's store if it is still unacknowledged; whether it was. */
  withdraw(): boolean;
}

export function publishWithdrawable(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
): WithdrawablePublish {
  let settle: (error?: Error) => void = () => undefined;
  const acknowledged = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  acknowledged.catch(() => undefined);
  // MQTT.js files the message under an id it picks itself, with this callback beside it.
  const done = (error?: Error) => settle(error);
  client.publish(topic, payload, { qos: 1, retain: false }, done);
  return {
    acknowledged,
    withdraw: () => {
      for (const [id, entry] of Object.entries(client.outgoing)) {
        if (entry.cb !== done) continue;
        client.removeOutgoingMessage(Number(id));
        return true;
      }
      return false;
    },
  };
}
