/** Every error code the library throws. */
export type RaftErrorCode =
  | 'RAFT_PROPOSAL_DROPPED'
  | 'RAFT_COMPACTED'
  | 'RAFT_UNAVAILABLE'
  | 'RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  | 'RAFT_SNAP_OUT_OF_DATE'
  | 'RAFT_STEP_LOCAL_MSG'
  | 'RAFT_STEP_PEER_NOT_FOUND'
  | 'RAFT_CONFIG_INVALID'
  | 'RAFT_CONF_CHANGE_INVALID'
  | 'RAFT_CODEC'
  | 'RAFT_INVARIANT';

/** The one error class of the library; switch on `code`. */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  constructor(code: RaftErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'RaftError';
    this.code = code;
  }
}

/** Throws an invariant violation: a bug in the library or misuse of the storage contract. */
export function invariant(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new RaftError('RAFT_INVARIANT', typeof msg === 'string' ? msg : msg());
}
