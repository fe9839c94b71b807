import createError from '@fastify/error';
import { CodedError } from '../../lib/coded-error.js';
import { AuditErrorCode } from '../audit/audit-errors.js';
import { RetentionErrorCode } from '../retention/retention-errors.js';

/** The errors the administration API answers with, and how the services' coded errors map to them. */
export const AdminErrors = {
  notFound: createError('IDG_ADMIN_NOT_FOUND', '%s', 404),
  conflict: createError('IDG_ADMIN_CONFLICT', '%s', 409),
  invalid: createError('IDG_ADMIN_INVALID', '%s', 400),
  noMasterKey: createError(
    'IDG_NO_MASTER_KEY',
    'the dashboard has no keys.master: TOTP secrets cannot be stored (identgate keygen master)',
    503,
  ),
};

const STATUS: Record<string, number> = {
  [RetentionErrorCode.invalid]: 400,
  [RetentionErrorCode.scope]: 400,
  [RetentionErrorCode.unknownScope]: 404,
  [RetentionErrorCode.holdUnknown]: 404,
  [RetentionErrorCode.personUnknown]: 404,
  [RetentionErrorCode.busy]: 409,
  IDG_NO_MASTER_KEY: 503,
  // An erasure that would sign over a list changed unseen, or leave its change unsigned.
  [AuditErrorCode.erasureListTampered]: 409,
  [AuditErrorCode.erasureListUnsigned]: 503,
};

/**
 * Runs a service call; a coded error it raises on purpose (bad input, unknown id) keeps its code
 * and message and gets its HTTP status, anything else stays a 500.
 */
export async function asHttp<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CodedError && STATUS[error.code] !== undefined) {
      throw Object.assign(error, { statusCode: STATUS[error.code] });
    }
    throw error;
  }
}
