// Wire and state types shared by every part of the library. They mirror
// etcd's raftpb shapes so that an etcd-literate reader finds familiar names.

/** A member ID. etcd member IDs span the full uint64 range; `0n` means "none". */
export type NodeId = bigint;

/** The "no node" ID. */
export const None: NodeId = 0n;

/** Kind of a log entry. */
export const EntryType = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 } as const;
/** Kind of a log entry. */
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** A replicated log entry. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The state Raft needs persisted before it may act on it. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Membership as of some log index (possibly a joint configuration). */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly votersOutgoing: readonly NodeId[];
  readonly learnersNext: readonly NodeId[];
  readonly autoLeave: boolean;
}

/** What a snapshot covers. */
export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/** An application snapshot plus the log position and membership it reflects. */
export interface Snapshot {
  readonly data: Uint8Array;
  readonly metadata: SnapshotMetadata;
}

/** Message kinds, numbered as in etcd's raftpb. */
export const MessageType = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
} as const;
/** Message kinds, numbered as in etcd's raftpb. */
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** A Raft message, either between nodes or local (term 0). */
export interface Message {
  readonly type: MessageType;
  readonly to: NodeId;
  readonly from: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot?: Snapshot;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: Uint8Array;
}

/** Kind of a single membership change. */
export const ConfChangeType = {
  AddNode: 0,
  RemoveNode: 1,
  UpdateNode: 2,
  AddLearnerNode: 3,
} as const;
/** Kind of a single membership change. */
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

/** A single-member change (etcd's ConfChange, "v1"). */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: Uint8Array;
}

/** One change inside a ConfChangeV2. */
export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * How a ConfChangeV2 moves through joint consensus:
 * - `auto`: joint consensus only when needed (more than one change), left automatically;
 * - `implicit`: always joint, left automatically;
 * - `explicit`: always joint, the application proposes an empty ConfChangeV2 to leave.
 */
export type ConfChangeTransition = 'auto' | 'implicit' | 'explicit';

/** A change of possibly several members at once; with no changes it leaves a joint config. */
export interface ConfChangeV2 {
  readonly transition: ConfChangeTransition;
  readonly changes: readonly ConfChangeSingle[];
  readonly context: Uint8Array;
}

/** The answer to a ReadIndex request: reads at `index` or later are linearizable. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/** The role a node plays. */
export const StateRole = {
  Follower: 'Follower',
  Candidate: 'Candidate',
  Leader: 'Leader',
  PreCandidate: 'PreCandidate',
} as const;
/** The role a node plays. */
export type StateRole = (typeof StateRole)[keyof typeof StateRole];

/** Volatile state that needs no persistence. */
export interface SoftState {
  readonly lead: NodeId;
  readonly role: StateRole;
}

/** Read-only request handling: `safe` confirms leadership with a heartbeat round, `lease-based` trusts CheckQuorum. */
export type ReadOnlyOption = 'safe' | 'lease-based';

/** An empty message template; callers spread over it. */
export function emptyMessage(): Message {
  return {
    type: MessageType.MsgHup,
    to: None,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
  };
}

/** A shared empty byte array (never written to). */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** An empty ConfState. */
export const EMPTY_CONF_STATE: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

/** An empty HardState. */
export const EMPTY_HARD_STATE: HardState = { term: 0, vote: None, commit: 0 };

/** True when hs carries nothing (all zero). */
export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === None && hs.commit === 0;
}

/** True when s is absent or its index is 0. */
export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

/** Byte-wise equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Compare two node IDs for sorting. */
export function compareIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Payload size of an entry, as counted by the uncommitted-size cap and the apply budget. */
export function payloadSize(e: Entry): number {
  return e.data.byteLength;
}

/** Approximate encoded size of an entry, as counted by the message size limit. */
export function entrySize(e: Entry): number {
  // 16 bytes stands for term, index and type in a compact encoding.
  return e.data.byteLength + 16;
}

/** Whether a message type is only ever produced locally. */
export function isLocalMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum
  );
}

/** Whether a message type is a response to another node's request. */
export function isResponseMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

/** The response type matching a vote request type. */
export function voteRespMsgType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new Error(`not a vote message: ${t}`);
}
