/**
 * The one error class of this package. Callers match on `code` (stable,
 * upper-case, `BACKEND_` prefixed), never only on `instanceof`, because two
 * copies of the package may be loaded. Programmer mistakes (an unknown bucket,
 * a key that is not a Uint8Array, bad options) throw plain TypeError or
 * RangeError instead.
 */

/** Every code a {@link BackendError} can carry. */
export const BackendErrorCode = {
  /** Another process or another instance in this process has the directory open. */
  LOCKED: 'BACKEND_LOCKED',
  /** The directory's contents are damaged (LevelDB corruption, broken pointer file). */
  CORRUPT: 'BACKEND_CORRUPT',
  /** The directory could not be opened or created (missing parent, permissions, not a backend). */
  OPEN_FAILED: 'BACKEND_OPEN_FAILED',
  /** The backend was used after close(). */
  CLOSED: 'BACKEND_CLOSED',
  /** A commit to LevelDB failed; the backend refuses further writes. */
  WRITE_FAILED: 'BACKEND_WRITE_FAILED',
  /** A snapshot stream given to restore() is truncated, malformed or fails its checksum. */
  SNAPSHOT_CORRUPT: 'BACKEND_SNAPSHOT_CORRUPT',
} as const;

/** Union of the values of {@link BackendErrorCode}. */
export type BackendErrorCode = (typeof BackendErrorCode)[keyof typeof BackendErrorCode];

/** An operational failure of the backend, identified by {@link BackendError.code}. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly code: BackendErrorCode;

  constructor(code: BackendErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The `code` of an error or of its `cause`, as LevelDB reports it through classic-level. */
export function levelCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; depth++) {
    if (typeof e !== 'object' || e === null) return undefined;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'LEVEL_DATABASE_NOT_OPEN') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The innermost message of an error chain, which for LevelDB names the real failure. */
export function innermostMessage(err: unknown): string {
  let message = String(err);
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 4; depth++) {
    if (e instanceof Error) message = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return message;
}
