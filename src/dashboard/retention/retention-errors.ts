/** The coded errors of retention, legal holds and erasure, in one place. */
export const RetentionErrorCode = {
  /** The request does not match its schema (class, scope, days, times). */
  invalid: 'IDG_RETENTION_INVALID',
  /** The data class cannot have a policy of that scope. */
  scope: 'IDG_RETENTION_SCOPE',
  /** The customer or site the request names is not known. */
  unknownScope: 'IDG_RETENTION_UNKNOWN_SCOPE',
  /** No such legal hold, or it was released already. */
  holdUnknown: 'IDG_RETENTION_HOLD_UNKNOWN',
  /** Another instance is running retention right now. */
  busy: 'IDG_RETENTION_BUSY',
  /**
   * A partition drop not tried in this run: one before it waited its lock timeout (a long reader
   * of `events`), and each further wait would hold the ingest up again. The next run tries it.
   */
  dropDeferred: 'IDG_RETENTION_DROP_DEFERRED',
  /** No person and no events with that id. */
  personUnknown: 'IDG_PERSON_UNKNOWN',
} as const;
