/** Machine-readable codes of {@link MvccError}. */
export const MvccErrorCode = {
  /** The requested revision has been compacted away. */
  Compacted: 'MVCC_COMPACTED',
  /** The requested revision is newer than the current revision. */
  FutureRev: 'MVCC_FUTURE_REV',
  /** A client-chosen watch id is already in use on the stream. */
  WatchIdExists: 'MVCC_WATCH_ID_EXISTS',
  /** A write transaction is already open (one at a time). */
  TxnOpen: 'MVCC_TXN_OPEN',
  /** The store, the transaction or the stream is closed/ended. */
  Closed: 'MVCC_CLOSED',
  /** The backend holds data this store cannot decode. */
  Corrupt: 'MVCC_CORRUPT',
  /** An argument is out of range (for example a negative revision). */
  InvalidArgument: 'MVCC_INVALID_ARGUMENT',
} as const;

/** One of the {@link MvccErrorCode} values. */
export type MvccErrorCode = (typeof MvccErrorCode)[keyof typeof MvccErrorCode];

// etcd's wording, so the server can pass messages through unchanged.
const MESSAGES: Record<MvccErrorCode, string> = {
  MVCC_COMPACTED: 'mvcc: required revision has been compacted',
  MVCC_FUTURE_REV: 'mvcc: required revision is a future revision',
  MVCC_WATCH_ID_EXISTS: 'mvcc: duplicate watch ID provided on the WatchStream',
  MVCC_TXN_OPEN: 'mvcc: a write transaction is already open',
  MVCC_CLOSED: 'mvcc: closed',
  MVCC_CORRUPT: 'mvcc: corrupt data in backend',
  MVCC_INVALID_ARGUMENT: 'mvcc: invalid argument',
};

/** Errors thrown by the store; `code` identifies them. */
export class MvccError extends Error {
  readonly code: MvccErrorCode;
  /** Set on MVCC_COMPACTED: the store's compacted revision at the time. */
  readonly compactRevision?: number;

  constructor(code: MvccErrorCode, detail?: string, compactRevision?: number) {
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
    this.name = 'MvccError';
    this.code = code;
    if (compactRevision !== undefined) this.compactRevision = compactRevision;
  }
}

/** Throws MVCC_INVALID_ARGUMENT unless `n` is a non-negative safe integer. */
export function assertRevision(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MvccError(
      MvccErrorCode.InvalidArgument,
      `${what} must be a non-negative safe integer`,
    );
  }
}
