import createError from '@fastify/error';

/** The errors the monitoring API (overview, alarms, actions, search, audit log) answers with. */
export const MonitoringErrors = {
  notFound: createError('IDG_MONITOR_NOT_FOUND', '%s', 404),
  badFilter: createError('IDG_HTTP_BAD_REQUEST', '%s', 400),
  /** The alarm is not in the state the action needs (acknowledge twice, resolve too early). */
  alarmState: createError('IDG_ALARM_STATE', '%s', 409),
  /** A privilege alarm about the account itself (or while one about it is open): others confirm it. */
  ownAccount: createError('IDG_ALARM_OWN_ACCOUNT', '%s', 403),
  /** Without the central signing key no command can be sent. */
  commandsOff: createError(
    'IDG_NO_CENTRAL_KEY',
    'commands are off: the dashboard has no central signing key (keys.signing)',
    503,
  ),
  messengerDown: createError('IDG_MESSENGER_STOPPED', 'the connection to the gateways is not running', 503),
};
