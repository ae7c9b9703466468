import type { KeyValue } from './key-value';

/** Options of a range read. */
export interface RangeOptions {
  /** Read the state at this revision; 0 or absent = the current revision. */
  readonly revision?: number;
  /** Return at most this many key-values (0 or absent = no limit); `count` still counts all. */
  readonly limit?: number;
  /** Return only the count, no key-values. */
  readonly countOnly?: boolean;
  /** Return key-values with empty values. */
  readonly keysOnly?: boolean;
}

/** Result of a range read. */
export interface RangeResult {
  /** Matching key-values in key order (at most `limit`). */
  readonly kvs: KeyValue[];
  /** Number of keys in the range at the revision, ignoring `limit`. */
  readonly count: number;
  /** The store's current revision when the read started. */
  readonly revision: number;
}

/** Options of {@link MvccStore.rangeEncoded}: those of a range read without keysOnly. */
export type EncodedRangeOptions = Omit<RangeOptions, 'keysOnly'>;

/** Result of {@link MvccStore.rangeEncoded}. */
export interface EncodedRangeResult {
  /** The matching key-values' stored mvccpb.KeyValue encodings, in key order (at most `limit`). */
  readonly values: Uint8Array[];
  /** Number of keys in the range at the revision, ignoring `limit`. */
  readonly count: number;
  /** The store's current revision when the read started. */
  readonly revision: number;
}

/** Event types, with mvccpb.Event's numbering. */
export const EventType = { Put: 0, Delete: 1 } as const;

/** One of the {@link EventType} values. */
export type EventType = (typeof EventType)[keyof typeof EventType];

/** A change made by a write transaction. */
export interface MvccEvent {
  readonly type: EventType;
  /** For puts the new key-value; for deletes only `key` and `modRevision` are set, as in etcd. */
  readonly kv: KeyValue;
  /** The previous key-value (watchers that asked for it; absent when compacted or new). */
  prevKv?: KeyValue;
}
