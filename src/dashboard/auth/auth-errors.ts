import createError from '@fastify/error';

/** The errors the authentication layer answers with, in one place. */
export const AuthErrors = {
  unauthenticated: createError('IDG_AUTH_REQUIRED', 'sign in first', 401),
  workstation: createError(
    'IDG_AUTH_WORKSTATION',
    'unknown workstation or wrong workstation token (Authorization: Bearer …)',
    401,
  ),
  badCredentials: createError('IDG_AUTH_FAILED', 'login or password wrong', 401),
  badCode: createError('IDG_AUTH_CODE', 'the code is wrong or was used already', 401),
  throttled: createError('IDG_AUTH_THROTTLED', 'too many failed attempts; try again in %s s', 429),
  stage: createError('IDG_AUTH_STAGE', '%s', 403),
  forbidden: createError('IDG_AUTH_FORBIDDEN', 'your role may not do this', 403),
  reauth: createError('IDG_AUTH_REAUTH', 'confirm with your password and a code first', 403),
  csrf: createError('IDG_AUTH_CSRF', 'missing or wrong CSRF token', 403),
  origin: createError('IDG_AUTH_ORIGIN', 'cross-site request refused', 403),
  weakPassword: createError('IDG_AUTH_PASSWORD', 'password refused: %s', 400),
  setup: createError('IDG_AUTH_SETUP', '%s', 403),
  conflict: createError('IDG_AUTH_CONFLICT', '%s', 409),
  notFound: createError('IDG_NOT_FOUND', '%s', 404),
  badInput: createError('IDG_BAD_INPUT', '%s', 400),
  /** A change that must tell security staff could not raise its alarm, so it was rolled back. */
  alarmUnavailable: createError(
    'IDG_ALARM_UNAVAILABLE',
    'nothing was changed: the alarm for security staff (%s) could not be raised',
    503,
  ),
};
