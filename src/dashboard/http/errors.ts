import createError from '@fastify/error';

/** Every error the HTTP API answers with on purpose, in one place. */
export const HttpErrors = {
  notFound: createError('IDG_HTTP_NOT_FOUND', 'not found: %s', 404),
  badRequest: createError('IDG_HTTP_BAD_REQUEST', '%s', 400),
  unavailable: createError('IDG_HTTP_UNAVAILABLE', 'service unavailable: %s', 503),
};
