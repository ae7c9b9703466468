import { RaftError } from './errors';
import type { Storage } from './storage';
import type { NodeId, ReadOnlyOption } from './types';

/** Optional diagnostics sink; the library never logs unless given one. */
export interface RaftLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/** Configuration of one Raft node. */
export interface RaftConfig {
  /** This node's ID; must not be 0n. */
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning (randomized in [electionTick, 2*electionTick)). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** The stable log. */
  storage: Storage;
  /** Last applied index at restart; committed entries up to it are not handed out again. Default 0. */
  applied?: number;
  /** Seeded random source in [0, 1), used only for election timeouts. */
  random: () => number;
  /** Max bytes of entries in one MsgApp (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Max MsgApp messages in flight to one follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max payload bytes in flight to one follower; 0 = unlimited. Default 0. */
  maxInflightBytes?: number;
  /** Max payload bytes of uncommitted entries on a leader; proposals beyond are dropped. 0 = unlimited. Default 0. */
  maxUncommittedEntriesSize?: number;
  /** Max bytes of committed entries in one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** Leader steps down if it has not heard from a quorum within an election timeout. Default false. */
  checkQuorum?: boolean;
  /** Run a pre-election before incrementing the term (avoids disruption by partitioned nodes). Default false. */
  preVote?: boolean;
  /** How ReadIndex is served. Default 'safe'; 'lease-based' requires checkQuorum. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /** A leader removed from (or demoted in) the configuration steps down when the change is applied. Default false. */
  stepDownOnRemoval?: boolean;
  /** Optional logger. */
  logger?: RaftLogger;
}

export interface ResolvedConfig {
  id: NodeId;
  electionTick: number;
  heartbeatTick: number;
  storage: Storage;
  applied: number;
  random: () => number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  maxUncommittedEntriesSize: number;
  maxCommittedSizePerReady: number;
  checkQuorum: boolean;
  preVote: boolean;
  readOnlyOption: ReadOnlyOption;
  disableProposalForwarding: boolean;
  stepDownOnRemoval: boolean;
  logger: RaftLogger | undefined;
}

function bad(msg: string): never {
  throw new RaftError('RAFT_CONFIG_INVALID', msg);
}

function nonNegInt(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!(Number.isInteger(v) || v === Infinity) || v < 0)
    bad(`${name} must be a non-negative integer`);
  return v;
}

export function resolveConfig(c: RaftConfig): ResolvedConfig {
  if (typeof c.id !== 'bigint' || c.id === 0n) bad('cannot use none as id');
  if (c.id < 0n || c.id > 0xffffffffffffffffn) bad('id must fit in uint64');
  if (!Number.isInteger(c.heartbeatTick) || c.heartbeatTick <= 0)
    bad('heartbeat tick must be greater than 0');
  if (!Number.isInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    bad('election tick must be greater than heartbeat tick');
  }
  if (typeof c.storage !== 'object' || c.storage === null) bad('storage cannot be nil');
  if (typeof c.random !== 'function') bad('random must be a function returning [0, 1)');
  const maxSizePerMsg = nonNegInt(c.maxSizePerMsg, 'maxSizePerMsg', 1024 * 1024);
  const maxInflightMsgs = nonNegInt(c.maxInflightMsgs, 'maxInflightMsgs', 256);
  if (maxInflightMsgs <= 0 || maxInflightMsgs === Infinity)
    bad('max inflight messages must be a positive integer');
  const maxInflightBytes = nonNegInt(c.maxInflightBytes, 'maxInflightBytes', 0);
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsg) {
    bad('max inflight bytes must be >= max message size');
  }
  const readOnlyOption = c.readOnlyOption ?? 'safe';
  if (readOnlyOption !== 'safe' && readOnlyOption !== 'lease-based') bad('unknown readOnlyOption');
  const checkQuorum = c.checkQuorum ?? false;
  if (readOnlyOption === 'lease-based' && !checkQuorum) {
    bad('checkQuorum must be enabled when readOnlyOption is lease-based');
  }
  return {
    id: c.id,
    electionTick: c.electionTick,
    heartbeatTick: c.heartbeatTick,
    storage: c.storage,
    applied: nonNegInt(c.applied, 'applied', 0),
    random: c.random,
    maxSizePerMsg,
    maxInflightMsgs,
    maxInflightBytes,
    maxUncommittedEntriesSize:
      nonNegInt(c.maxUncommittedEntriesSize, 'maxUncommittedEntriesSize', 0) || Infinity,
    maxCommittedSizePerReady:
      nonNegInt(c.maxCommittedSizePerReady, 'maxCommittedSizePerReady', Infinity) || Infinity,
    checkQuorum,
    preVote: c.preVote ?? false,
    readOnlyOption,
    disableProposalForwarding: c.disableProposalForwarding ?? false,
    stepDownOnRemoval: c.stepDownOnRemoval ?? false,
    logger: c.logger,
  };
}
