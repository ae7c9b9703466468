/** Every failure the WAL and snapshot store report, as a stable string code. */
export type WalErrorCode =
  | 'WAL_CORRUPT'
  | 'WAL_METADATA_MISMATCH'
  | 'WAL_LOCKED'
  | 'WAL_NOT_FOUND'
  | 'WAL_EXISTS'
  | 'WAL_SNAPSHOT_NOT_FOUND'
  | 'WAL_SNAPSHOT_MISMATCH'
  | 'WAL_GAP'
  | 'WAL_INVALID_ARGUMENT'
  | 'WAL_STATE'
  | 'WAL_CLOSED'
  | 'WAL_FAILED'
  | 'SNAPSHOT_CORRUPT';

export class WalError extends Error {
  override readonly name = 'WalError';
  readonly code: WalErrorCode;
  readonly file?: string;
  readonly offset?: number;

  constructor(
    code: WalErrorCode,
    message: string,
    details: { file?: string; offset?: number; cause?: unknown } = {},
  ) {
    const where =
      details.file === undefined
        ? ''
        : ` (${details.file}${details.offset === undefined ? '' : ` at offset ${details.offset}`})`;
    super(
      `${code}: ${message}${where}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.code = code;
    if (details.file !== undefined) this.file = details.file;
    if (details.offset !== undefined) this.offset = details.offset;
  }
}
