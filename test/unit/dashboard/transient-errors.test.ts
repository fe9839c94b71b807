import { describe, expect, it } from 'vitest';
import { isConnectionError, isTransientError } from '../../../src/dashboard/storage/database.js';

/** The one test the ingest (retry the batch) and the HTTP layer (503 + Retry-After) share. */
describe('isTransientError', () => {
  it.each([
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock'],
    ['55P03', 'lock not available'],
    ['53100', 'disk full'],
    ['53200', 'out of memory'],
    ['53300', 'too many connections'],
    ['57014', 'statement cancelled'],
    ['08006', 'connection failure'],
    ['57P01', 'administrator shutdown'],
    ['ECONNREFUSED', 'no server'],
  ])('passes %s (%s)', (code) => {
    expect(isTransientError(Object.assign(new Error('x'), { code }))).toBe(true);
  });

  it.each([
    ['23505', 'unique violation'],
    ['22P02', 'invalid text representation'],
    ['42P01', 'undefined table'],
    ['IDG_HTTP_BAD_REQUEST', 'our own code'],
  ])('does not pass %s (%s)', (code) => {
    expect(isTransientError(Object.assign(new Error('x'), { code }))).toBe(false);
  });

  it('knows a dropped connection by its message when it has no code', () => {
    expect(isTransientError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isConnectionError(new Error('duplicate key value'))).toBe(false);
  });

  it('takes anything thrown, a library code that is a number included, without throwing', () => {
    for (const thrown of [undefined, null, 'text', 42, { code: 53100 }, { code: ['08006'] }, { message: 7 }])
      expect(isTransientError(thrown)).toBe(false);
  });
});
