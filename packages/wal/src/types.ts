/** One log entry: its position and an opaque, already encoded payload. */
export interface WalEntry {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/** The consensus state that must survive a restart (Raft: term, vote, commit). */
export interface WalHardState {
  readonly term: number;
  readonly vote: bigint;
  readonly commit: number;
}

/** Index and term of the snapshot the log continues from. */
export interface WalSnapshotMarker {
  readonly index: number;
  readonly term: number;
}
