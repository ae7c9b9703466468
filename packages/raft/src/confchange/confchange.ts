import { RaftError } from '../errors';
import { Inflights } from '../tracker/inflights';
import { Progress } from '../tracker/progress';
import type { ProgressMap, TrackerConfig } from '../tracker/tracker';
import { cloneTrackerConfig } from '../tracker/tracker';
import type { ConfChange, ConfChangeSingle, ConfChangeV2, ConfState, NodeId } from '../types';
import { ConfChangeType } from '../types';

export interface ChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

function fail(msg: string): never {
  throw new RaftError('RAFT_CONF_CHANGE_INVALID', msg);
}

/** Views any conf change as a V2 one. */
export function asV2(cc: ConfChange | ConfChangeV2): ConfChangeV2 {
  if ('transition' in cc) return cc;
  return {
    transition: 'auto',
    changes: [{ type: cc.type, nodeId: cc.nodeId }],
    context: cc.context,
  };
}

/** Whether cc leaves a joint config (an empty V2 change). */
export function leavesJoint(cc: ConfChangeV2): boolean {
  return cc.transition === 'auto' && cc.changes.length === 0;
}

/** Whether cc enters a joint config, and if so whether it auto-leaves. */
export function entersJoint(cc: ConfChangeV2): { joint: boolean; autoLeave: boolean } {
  if (cc.transition !== 'auto' || cc.changes.length > 1) {
    return { joint: true, autoLeave: cc.transition !== 'explicit' };
  }
  return { joint: false, autoLeave: false };
}

// Computes the configuration and progress after a change, without touching
// the inputs, and checks the result's invariants.
export class Changer {
  constructor(
    private readonly config: TrackerConfig,
    private readonly progress: ProgressMap,
    private readonly lastIndex: number,
    private readonly maxInflight: number,
    private readonly maxInflightBytes: number,
  ) {}

  enterJoint(autoLeave: boolean, ccs: readonly ConfChangeSingle[]): ChangeResult {
    const [cfg, trk] = this.checkAndCopy();
    if (cfg.voters.outgoing.size > 0) fail('config is already joint');
    if (cfg.voters.incoming.size === 0) fail("can't make a zero-voter config joint");
    for (const id of cfg.voters.incoming) cfg.voters.outgoing.add(id);
    this.apply(cfg, trk, ccs);
    cfg.autoLeave = autoLeave;
    return checkAndReturn(cfg, trk);
  }

  leaveJoint(): ChangeResult {
    const [cfg, trk] = this.checkAndCopy();
    if (cfg.voters.outgoing.size === 0) fail("can't leave a non-joint config");
    for (const id of cfg.learnersNext) {
      cfg.learners.add(id);
      trk.get(id)!.isLearner = true;
    }
    cfg.learnersNext.clear();
    for (const id of cfg.voters.outgoing) {
      if (!cfg.voters.incoming.has(id) && !cfg.learners.has(id)) trk.delete(id);
    }
    cfg.voters.outgoing.clear();
    cfg.autoLeave = false;
    return checkAndReturn(cfg, trk);
  }

  simple(ccs: readonly ConfChangeSingle[]): ChangeResult {
    const [cfg, trk] = this.checkAndCopy();
    if (cfg.voters.outgoing.size > 0) fail("can't apply simple config change in joint config");
    this.apply(cfg, trk, ccs);
    let diff = 0;
    for (const id of cfg.voters.incoming) if (!this.config.voters.incoming.has(id)) diff++;
    for (const id of this.config.voters.incoming) if (!cfg.voters.incoming.has(id)) diff++;
    if (diff > 1) fail('more than one voter changed without entering joint config');
    return checkAndReturn(cfg, trk);
  }

  private apply(cfg: TrackerConfig, trk: ProgressMap, ccs: readonly ConfChangeSingle[]): void {
    for (const cc of ccs) {
      if (cc.nodeId === 0n) continue; // etcd ignores changes to ID 0
      switch (cc.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.AddLearnerNode:
          this.makeLearner(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          remove(cfg, trk, cc.nodeId);
          break;
        case ConfChangeType.UpdateNode:
          break;
        default:
          fail(`unexpected conf type ${String(cc.type)}`);
      }
    }
    if (cfg.voters.incoming.size === 0) fail('removed all voters');
  }

  private makeVoter(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
    const pr = trk.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, trk, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    cfg.voters.incoming.add(id);
  }

  private makeLearner(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
    const pr = trk.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, trk, id, true);
      return;
    }
    if (pr.isLearner) return;
    remove(cfg, trk, id);
    trk.set(id, pr);
    // A voter still in the outgoing half becomes a learner only on leaving.
    if (cfg.voters.outgoing.has(id)) cfg.learnersNext.add(id);
    else {
      pr.isLearner = true;
      cfg.learners.add(id);
    }
  }

  private initProgress(cfg: TrackerConfig, trk: ProgressMap, id: NodeId, isLearner: boolean): void {
    if (isLearner) cfg.learners.add(id);
    else cfg.voters.incoming.add(id);
    // Recently active so that CheckQuorum does not count a just-added peer as
    // dead before it had a chance to answer.
    trk.set(
      id,
      new Progress(
        Math.max(this.lastIndex, 1),
        new Inflights(this.maxInflight, this.maxInflightBytes),
        isLearner,
        true,
      ),
    );
  }

  private checkAndCopy(): [TrackerConfig, ProgressMap] {
    const cfg = cloneTrackerConfig(this.config);
    const trk: ProgressMap = new Map();
    for (const [id, pr] of this.progress) trk.set(id, pr.clone());
    checkInvariants(cfg, trk);
    return [cfg, trk];
  }
}

function remove(cfg: TrackerConfig, trk: ProgressMap, id: NodeId): void {
  if (!trk.has(id)) return;
  cfg.voters.incoming.delete(id);
  cfg.learners.delete(id);
  cfg.learnersNext.delete(id);
  // Still a voter in the outgoing half: keep its progress until leaving.
  if (!cfg.voters.outgoing.has(id)) trk.delete(id);
}

function checkInvariants(cfg: TrackerConfig, trk: ProgressMap): void {
  const all = [cfg.voters.incoming, cfg.voters.outgoing, cfg.learners, cfg.learnersNext];
  for (const s of all) for (const id of s) if (!trk.has(id)) fail(`no progress for ${id}`);
  for (const id of cfg.learnersNext) {
    if (!cfg.voters.outgoing.has(id)) fail(`${id} is in LearnersNext, but not Voters[1]`);
    if (trk.get(id)!.isLearner) fail(`${id} is in LearnersNext, but is already marked as learner`);
  }
  for (const id of cfg.learners) {
    if (cfg.voters.outgoing.has(id)) fail(`${id} is in Learners and Voters[1]`);
    if (cfg.voters.incoming.has(id)) fail(`${id} is in Learners and Voters[0]`);
    if (!trk.get(id)!.isLearner) fail(`${id} is in Learners, but is not marked as learner`);
  }
  if (cfg.voters.outgoing.size === 0) {
    if (cfg.learnersNext.size > 0) fail('cfg.LearnersNext must be empty when not joint');
    if (cfg.autoLeave) fail('AutoLeave must be false when not joint');
  }
}

function checkAndReturn(cfg: TrackerConfig, trk: ProgressMap): ChangeResult {
  checkInvariants(cfg, trk);
  return { config: cfg, progress: trk };
}

/**
 * Rebuilds the configuration a ConfState describes, by replaying it as a
 * sequence of changes from an empty config (so the same checks apply).
 */
export function restoreConfState(
  cs: ConfState,
  lastIndex: number,
  maxInflight: number,
  maxInflightBytes: number,
  start: ChangeResult,
): ChangeResult {
  const outgoing: ConfChangeSingle[] = [];
  const incoming: ConfChangeSingle[] = [];
  for (const id of cs.votersOutgoing) {
    outgoing.push({ type: ConfChangeType.AddNode, nodeId: id });
    incoming.push({ type: ConfChangeType.RemoveNode, nodeId: id });
  }
  for (const id of cs.voters) incoming.push({ type: ConfChangeType.AddNode, nodeId: id });
  for (const id of cs.learners) incoming.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });
  for (const id of cs.learnersNext)
    incoming.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });

  let cur = start;
  const step = (f: (c: Changer) => ChangeResult): void => {
    cur = f(new Changer(cur.config, cur.progress, lastIndex, maxInflight, maxInflightBytes));
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step((c) => c.simple([cc]));
  } else {
    for (const cc of outgoing) step((c) => c.simple([cc]));
    step((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  return cur;
}
