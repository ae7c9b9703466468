import type { MvccEvent } from '../types';

/** A request to watch a key or a range. */
export interface WatchRequest {
  readonly key: Uint8Array;
  /** etcd rangeEnd: absent/empty = the single key, [0] = all keys >= key, else [key, end). */
  readonly end?: Uint8Array;
  /** First revision to report (inclusive); 0 or absent = from the next revision. */
  readonly startRevision?: number;
  readonly filters?: { readonly noPut?: boolean; readonly noDelete?: boolean };
  /** Attach the previous key-value to each event. */
  readonly prevKv?: boolean;
  /** Client-chosen id; absent or 0 = let the stream pick the lowest free id (from 0, as etcd). */
  readonly watchId?: number;
}

/** One message of a watch stream. */
export interface WatchResponse {
  /** The watcher; -1 for a progress notification of the whole stream. */
  readonly watchId: number;
  /** Events in revision order; one revision's events are never split across responses. */
  readonly events: MvccEvent[];
  /** For events: the newest revision this watcher is now complete up to; for progress: the current revision. */
  readonly revision: number;
  /** Set when the watcher was canceled because its next revision is compacted. */
  readonly compactRevision?: number;
  /** True when the server canceled the watcher (with `compactRevision`). */
  readonly canceled?: boolean;
}

/**
 * A stream of watchers sharing one bounded response buffer, consumed with
 * `for await`. When the buffer is full, watchers with new events are set
 * aside (victims) and resume, without loss, once the consumer drains it.
 */
export interface WatchStream extends AsyncIterable<WatchResponse> {
  /** Start a watcher; returns its id. Throws MVCC_WATCH_ID_EXISTS for a taken client-chosen id. */
  watch(req: WatchRequest): number;
  /** Stop a watcher; false if no such id. No response is produced for it. */
  cancel(watchId: number): boolean;
  /**
   * Ask for a progress notification: a response with watchId -1, no events
   * and the current revision, sent as soon as every watcher of the stream is
   * synced (at once if they already are).
   */
  requestProgress(): void;
  /**
   * Progress of one watcher (etcd's periodic progress_notify): if it is
   * synced, queue a response with its id, no events and the current
   * revision, and return true; otherwise (catching up or set aside, or the
   * buffer is full) do nothing and return false, as etcd does.
   */
  watcherProgress(watchId: number): boolean;
  /**
   * Waits until a response is queued, then takes the queued responses, at
   * most `max`, in order: one wake-up for everything a burst of writes
   * produced, so the consumer can send them together. Resolves undefined
   * once the stream is closed. An alternative to iterating (do not mix the
   * two on one stream).
   */
  nextBatch(max: number): Promise<WatchResponse[] | undefined>;
  /** Cancel all watchers and end the iteration. */
  close(): void;
}
