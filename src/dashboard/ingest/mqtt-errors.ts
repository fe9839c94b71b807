/** Codes of the errors the MQTT subscriber reports, for operators to search and tests to match. */
export const MqttErrorCode = {
  /** Options that cannot work (bad URL, topic, group name, limits); thrown by the constructor. */
  config: 'IDG_MQTT_CONFIG',
  /** TCP or TLS failure: refused, reset, certificate rejected. */
  socket: 'IDG_MQTT_SOCKET',
  /** CONNACK with a failure code: credentials, client id, protocol version. */
  connectRefused: 'IDG_MQTT_CONNECT_REFUSED',
  /** No CONNACK and SUBACK within the connect timeout. */
  connectTimeout: 'IDG_MQTT_CONNECT_TIMEOUT',
  /** Nothing heard from the broker after a PINGREQ. */
  keepaliveTimeout: 'IDG_MQTT_KEEPALIVE_TIMEOUT',
  /** Malformed bytes or a packet a broker must not send. */
  protocol: 'IDG_MQTT_PROTOCOL',
  /** SUBACK refused a topic filter (permissions, invalid filter). */
  subscribeRefused: 'IDG_MQTT_SUBSCRIBE_REFUSED',
  /** The broker sent DISCONNECT (MQTT 5) or closed the socket. */
  brokerDisconnect: 'IDG_MQTT_BROKER_DISCONNECT',
} as const;
