/**
 * @kv/raft — a reusable Raft consensus library as a pure, deterministic state
 * machine: no I/O, no timers, no randomness of its own. See README.md.
 *
 * @packageDocumentation
 */

/** Core types, constants and helpers. */
export type {
  NodeId,
  Entry,
  HardState,
  ConfState,
  SnapshotMetadata,
  Snapshot,
  Message,
  ConfChange,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeV2,
  ReadState,
  SoftState,
  ReadOnlyOption,
} from './types';
export {
  /** The "no node" ID, `0n`. */
  None,
  /** Entry kinds: Normal, ConfChange, ConfChangeV2. */
  EntryType,
  /** Message kinds with etcd raftpb numbering. */
  MessageType,
  /** Membership change kinds. */
  ConfChangeType,
  /** Node roles. */
  StateRole,
  /** True when a hard state is all zero. */
  isEmptyHardState,
  /** True when a snapshot is absent or has index 0. */
  isEmptySnapshot,
  /** True for message types only ever produced locally. */
  isLocalMsg,
  /** True for response message types. */
  isResponseMsg,
} from './types';

/** Error class and its codes. */
export { RaftError } from './errors';
/** The codes a RaftError can carry. */
export type { RaftErrorCode } from './errors';

/** The storage port and its in-memory implementation. */
export type { Storage } from './storage';
/** In-memory Storage, also the write side the application appends to after persisting. */
export { MemoryStorage } from './storage';

/** Node configuration. */
export type { RaftConfig, RaftLogger } from './config';

/** The node API. */
export { RawNode } from './raw-node';
/** A batch of work returned by RawNode.ready(). */
export type { Ready } from './raw-node';
/** Observability. */
export type { Status, BasicStatus, ProgressStatus } from './status';
/** Follower flow-control state. */
export type { ProgressState } from './tracker/progress';

/** Binary codec for messages, entries, states and conf changes. */
export {
  /** Encodes a Message. */
  encodeMessage,
  /** Decodes a Message. */
  decodeMessage,
  /** Encodes an Entry. */
  encodeEntry,
  /** Decodes an Entry. */
  decodeEntry,
  /** Encodes a HardState. */
  encodeHardState,
  /** Decodes a HardState. */
  decodeHardState,
  /** Encodes a ConfChange or ConfChangeV2 (distinguishable by the format byte). */
  encodeConfChange,
  /** Decodes either conf change version; V2 results have `transition`. */
  decodeConfChange,
  /** Encodes SnapshotMetadata. */
  encodeSnapshotMetadata,
  /** Decodes SnapshotMetadata. */
  decodeSnapshotMetadata,
  /** Encodes a ConfState. */
  encodeConfState,
  /** Decodes a ConfState. */
  decodeConfState,
  /** Encodes a whole Snapshot. */
  encodeSnapshot,
  /** Decodes a whole Snapshot. */
  decodeSnapshot,
} from './codec';

/** Readable renderings for logs and tests. */
export {
  /** Formats a Message. */
  describeMessage,
  /** Formats an Entry. */
  describeEntry,
  /** Formats a list of entries. */
  describeEntries,
  /** Formats a Ready. */
  describeReady,
  /** Formats a HardState. */
  describeHardState,
} from './describe';

/** Whether a message in a Ready must wait until the Ready's state is durably persisted. */
export { mustPersistBeforeSend } from './util';
