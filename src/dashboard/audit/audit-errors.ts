/** The coded errors of the tamper-evident log and the auditors' exports, in one place. */
export const AuditErrorCode = {
  /** An export or verification request does not make sense (times, format, filters). */
  invalid: 'IDG_AUDIT_INVALID',
  /** Signing needs the central signing key (keys.signing), and none is configured. */
  noSigningKey: 'IDG_AUDIT_NO_SIGNING_KEY',
  /** A chain would be signed over a gap or a broken link: refused, verification tells where. */
  chainBroken: 'IDG_AUDIT_CHAIN_BROKEN',
  /**
   * A chain's last checkpoint is signed by a key that is neither this process's keys.signing nor
   * one it retires: another key took over (this instance runs an old configuration), so it does
   * not sign the chain on.
   */
  checkpointKeyForeign: 'IDG_AUDIT_CHECKPOINT_KEY_FOREIGN',
  /**
   * The list of erased chain rows is not as its last signed change left it (or that change is
   * signed by another key): an erasure or a prune refuses to go on from it and sign it.
   */
  erasureListTampered: 'IDG_AUDIT_ERASURE_LIST_TAMPERED',
  /** The list's changes are signed, and this process has no central key to sign the next one. */
  erasureListUnsigned: 'IDG_AUDIT_ERASURE_LIST_UNSIGNED',
  /** The export's output directory exists already. */
  outExists: 'IDG_EXPORT_OUT_EXISTS',
  /** A bundle is incomplete or unreadable. */
  bundleInvalid: 'IDG_EXPORT_BUNDLE_INVALID',
} as const;
