/**
 * Corruption checking, as etcd does it: members compare HashKV (a hash of
 * the MVCC key space up to a revision, counting only what the compaction at
 * the compacted revision keeps) at the same revision.
 *
 * - Initial check (--experimental-initial-corrupt-check): a restarting member
 *   hashes its own store before it serves, asks every peer for the hash at
 *   its revision, and refuses to start when a peer with the same compact
 *   revision has a different hash.
 * - Periodic check (--experimental-corrupt-check-time): the leader hashes its
 *   store, asks every peer for the hash at that revision, confirms it is
 *   still leader (a read barrier), hashes again, and raises a CORRUPT alarm
 *   (through Raft) for the first member that disagrees: itself if its own two
 *   hashes of one revision differ, a peer that claims a later revision or
 *   compact revision than the leader, or a peer whose hash differs at the
 *   same compact revision.
 *
 * Peers are asked over the peer transport (request kind `hashkv`); the
 * payload and the answer are encoded here so both sides agree.
 */
import type { Clock, TimerHandle } from './clock';
import type { Logger } from './logger';

export interface HashKV {
  readonly hash: number;
  /** The member's current revision when it hashed. */
  readonly revision: number;
  readonly compactRevision: number;
}

export interface PeerHashKV extends HashKV {
  readonly memberId: bigint;
}

/** The peer request kind that asks a member for its HashKV. */
export const HASHKV_REQUEST = 'hashkv';

/** Why a peer could not answer: the revision is compacted or ahead of it. */
export class PeerHashKVError extends Error {
  override readonly name = 'PeerHashKVError';
  constructor(
    readonly reason: 'compacted' | 'future-revision' | 'other',
    message: string,
  ) {
    super(message);
  }
}

/** The member refuses to start: its data differs from its peers'. */
export class CorruptionError extends Error {
  override readonly name = 'CorruptionError';
}

export function encodeHashKVRequest(revision: number): Uint8Array {
  return Buffer.from(JSON.stringify({ revision }));
}

export function decodeHashKVRequest(payload: Uint8Array): number {
  const j = JSON.parse(Buffer.from(payload).toString('utf8')) as { revision?: unknown };
  return typeof j.revision === 'number' ? j.revision : 0;
}

/** Answers a `hashkv` request from the local store; errors travel in the answer. */
export async function answerHashKVRequest(
  memberId: bigint,
  payload: Uint8Array,
  hashKV: (revision: number) => Promise<HashKV>,
): Promise<Uint8Array> {
  let answer: Record<string, unknown>;
  try {
    const h = await hashKV(decodeHashKVRequest(payload));
    answer = {
      memberId: memberId.toString(16),
      hash: h.hash,
      revision: h.revision,
      compactRevision: h.compactRevision,
    };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const reason =
      code === 'MVCC_COMPACTED'
        ? 'compacted'
        : code === 'MVCC_FUTURE_REV'
          ? 'future-revision'
          : 'other';
    answer = { error: reason, message: (err as Error).message };
  }
  return Buffer.from(JSON.stringify(answer));
}

export function decodeHashKVAnswer(raw: Uint8Array): PeerHashKV {
  const j = JSON.parse(Buffer.from(raw).toString('utf8')) as {
    memberId?: string;
    hash?: number;
    revision?: number;
    compactRevision?: number;
    error?: 'compacted' | 'future-revision' | 'other';
    message?: string;
  };
  if (j.error !== undefined) throw new PeerHashKVError(j.error, j.message ?? j.error);
  return {
    memberId: BigInt(`0x${j.memberId ?? '0'}`),
    hash: j.hash ?? 0,
    revision: j.revision ?? 0,
    compactRevision: j.compactRevision ?? 0,
  };
}

export interface CorruptionCheckerDeps {
  readonly memberId: bigint;
  /** HashKV of the local store at `revision` (0 = current). */
  hashKV(revision: number): Promise<HashKV>;
  /** IDs of the other members. */
  peers(): readonly bigint[];
  /** Asks a peer for its HashKV at `revision`; rejects if it cannot answer. */
  peerHashKV(peer: bigint, revision: number): Promise<PeerHashKV>;
  isLeader(): boolean;
  /** Resolves once this member has confirmed its leadership (a linearizable read barrier). */
  readBarrier(): Promise<void>;
  /** Proposes Alarm ACTIVATE CORRUPT for `memberId` through Raft. */
  raiseCorruptAlarm(memberId: bigint): Promise<void>;
  readonly clock: Clock;
  readonly logger: Logger;
}

const hex = (id: bigint): string => id.toString(16);

export class CorruptionChecker {
  readonly #d: CorruptionCheckerDeps;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #running: Promise<unknown> = Promise.resolve();

  constructor(deps: CorruptionCheckerDeps) {
    this.#d = deps;
  }

  async #askPeers(revision: number): Promise<{ id: bigint; resp?: PeerHashKV; err?: unknown }[]> {
    return Promise.all(
      this.#d.peers().map(async (id) => {
        try {
          return { id, resp: await this.#d.peerHashKV(id, revision) };
        } catch (err) {
          return { id, err };
        }
      }),
    );
  }

  /**
   * Before serving: compares the local hash with every reachable peer's at
   * the local revision. Throws CorruptionError on a mismatch at the same
   * compact revision; unreachable, slower or compacted peers are skipped.
   */
  async initialCheck(): Promise<void> {
    const log = this.#d.logger;
    const local = hex(this.#d.memberId);
    log.info({ 'local-member-id': local }, 'starting initial corruption check');
    const own = await this.#d.hashKV(0);
    let mismatches = 0;
    for (const p of await this.#askPeers(own.revision)) {
      if (p.resp === undefined) {
        log.warn(
          {
            'local-member-id': local,
            'local-member-revision': own.revision,
            'remote-peer-id': hex(p.id),
            error: String((p.err as Error | undefined)?.message ?? p.err),
          },
          'cannot fetch hash from remote peer',
        );
        continue;
      }
      if (p.resp.hash === own.hash) continue;
      const fields = {
        'local-member-id': local,
        'local-member-revision': own.revision,
        'local-member-compact-revision': own.compactRevision,
        'local-member-hash': own.hash,
        'remote-peer-id': hex(p.resp.memberId),
        'remote-peer-revision': p.resp.revision,
        'remote-peer-compact-revision': p.resp.compactRevision,
        'remote-peer-hash': p.resp.hash,
      };
      if (p.resp.compactRevision === own.compactRevision) {
        log.warn(fields, 'found different hash values from remote peer');
        mismatches++;
      } else {
        log.warn(fields, 'found different compact revision values from remote peer');
      }
    }
    if (mismatches > 0) {
      throw new CorruptionError(`${local} found data inconsistency with peers`);
    }
    log.info({ 'local-member-id': local }, 'initial corruption checking passed; no corruption');
  }

  /**
   * One pass of the leader's check. Returns the member a CORRUPT alarm was
   * raised for, or undefined when everything agreed (or this member is not
   * the leader).
   */
  async check(): Promise<bigint | undefined> {
    if (!this.#d.isLeader()) return undefined;
    const log = this.#d.logger;
    const first = await this.#d.hashKV(0);
    const peers = await this.#askPeers(first.revision);
    await this.#d.readBarrier();
    const second = await this.#d.hashKV(0);

    let alarmed: bigint | undefined;
    const mismatch = (id: bigint, fields: Record<string, unknown>, msg: string): void => {
      log.warn({ ...fields, 'member-id': hex(id) }, msg);
      alarmed ??= id;
    };
    if (
      second.hash !== first.hash &&
      second.revision === first.revision &&
      second.compactRevision === first.compactRevision
    ) {
      mismatch(
        this.#d.memberId,
        { 'revision-1': first.revision, 'hash-1': first.hash, 'hash-2': second.hash },
        'found hash mismatch',
      );
    }
    let checked = 0;
    for (const p of peers) {
      const r = p.resp;
      if (r === undefined) continue;
      checked++;
      if (r.revision > second.revision) {
        mismatch(
          r.memberId,
          { 'leader-revision': second.revision, 'follower-revision': r.revision },
          "revision from follower must be less than or equal to leader's",
        );
      }
      if (r.compactRevision > second.compactRevision) {
        mismatch(
          r.memberId,
          {
            'leader-compact-revision': second.compactRevision,
            'follower-compact-revision': r.compactRevision,
          },
          "compact revision from follower must be less than or equal to leader's",
        );
      }
      if (r.compactRevision === first.compactRevision && r.hash !== first.hash) {
        mismatch(
          r.memberId,
          {
            revision: first.revision,
            'compact-revision': first.compactRevision,
            'leader-hash': first.hash,
            'follower-hash': r.hash,
          },
          'same compact revision then hashes must match',
        );
      }
    }
    log.info({ 'number-of-peers-checked': checked }, 'finished peer corruption check');
    if (alarmed !== undefined) await this.#d.raiseCorruptAlarm(alarmed);
    return alarmed;
  }

  /** Runs {@link check} every `intervalMs` (on the leader; followers skip their turn). */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.#stopped) return;
    this.#d.logger.info(
      { 'local-member-id': hex(this.#d.memberId), interval: `${intervalMs}ms` },
      'enabled corruption checking',
    );
    const schedule = (): void => {
      if (this.#stopped) return;
      this.#timer = this.#d.clock.setTimeout(() => {
        this.#running = this.check()
          .catch((err: unknown) =>
            this.#d.logger.warn({ error: String(err) }, 'failed to check hash KV'),
          )
          .finally(schedule);
      }, intervalMs);
    };
    schedule();
  }

  /** Stops the periodic check; resolves when a pass in progress has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running;
  }
}
