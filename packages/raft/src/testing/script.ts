// A datadriven-style script runner: a file is a sequence of
//
//   command arg key=value
//   ----
//   expected output
//
// blocks separated by blank lines (lines starting with # are comments).
// runScript executes the commands against a Cluster and returns the file
// with the actual outputs, so a test compares it with the original (and can
// rewrite it).
import { ConfChangeType } from '../types';
import type { ConfChangeSingle, NodeId } from '../types';
import { describeMessage } from '../describe';
import { Cluster } from './cluster';
import type { NodeConfigOverrides } from './cluster';

interface Command {
  name: string;
  args: string[];
  kv: Map<string, string>;
}

function parse(line: string): Command {
  const parts = line.trim().split(/\s+/);
  const kv = new Map<string, string>();
  const args: string[] = [];
  for (const p of parts.slice(1)) {
    const i = p.indexOf('=');
    if (i > 0) kv.set(p.slice(0, i), p.slice(i + 1));
    else args.push(p);
  }
  return { name: parts[0] ?? '', args, kv };
}

const ids = (s: string | undefined): NodeId[] => (s ? s.split(',').map((x) => BigInt(x)) : []);

class Runner {
  private c: Cluster | undefined;
  private log: string[] = [];

  private cluster(): Cluster {
    if (!this.c) throw new Error('no cluster: start with "cluster ids=1,2,3"');
    return this.c;
  }

  private node(cmd: Command): NodeId {
    const a = cmd.args[0];
    if (a === undefined) throw new Error(`${cmd.name}: node ID required`);
    return BigInt(a);
  }

  // Processes readies and deliveries until quiet, logging each delivery.
  private stabilize(): void {
    const c = this.cluster();
    c.onDeliver = (m, dropped) =>
      this.log.push(`${dropped ? 'dropped ' : ''}${describeMessage(m)}`);
    c.stabilize();
    c.onDeliver = undefined;
  }

  run(cmd: Command): string {
    this.log = [];
    const enc = new TextEncoder();
    switch (cmd.name) {
      case 'cluster': {
        const config: NodeConfigOverrides = {
          preVote: cmd.args.includes('prevote'),
          checkQuorum: cmd.args.includes('checkquorum'),
        };
        this.c = new Cluster({
          ids: ids(cmd.kv.get('ids')),
          spare: ids(cmd.kv.get('spare')),
          seed: Number(cmd.kv.get('seed') ?? 1),
          config,
        });
        this.cluster().stabilize();
        return 'ok';
      }
      case 'campaign':
        this.cluster().raw(this.node(cmd)).campaign();
        break;
      case 'propose':
        this.cluster()
          .raw(this.node(cmd))
          .propose(enc.encode(cmd.args[1] ?? ''));
        break;
      case 'read-index':
        this.cluster()
          .raw(this.node(cmd))
          .readIndex(enc.encode(cmd.args[1] ?? ''));
        break;
      case 'transfer':
        this.cluster()
          .raw(this.node(cmd))
          .transferLeadership(BigInt(cmd.kv.get('to') ?? '0'));
        break;
      case 'tick': {
        const n = Number(cmd.kv.get('n') ?? 1);
        for (let i = 0; i < n; i++) this.cluster().raw(this.node(cmd)).tick();
        break;
      }
      case 'conf-change': {
        const changes: ConfChangeSingle[] = [];
        for (const id of ids(cmd.kv.get('add')))
          changes.push({ type: ConfChangeType.AddNode, nodeId: id });
        for (const id of ids(cmd.kv.get('learner'))) {
          changes.push({ type: ConfChangeType.AddLearnerNode, nodeId: id });
        }
        for (const id of ids(cmd.kv.get('remove')))
          changes.push({ type: ConfChangeType.RemoveNode, nodeId: id });
        const raw = this.cluster().raw(this.node(cmd));
        const transition = cmd.kv.get('transition');
        if (changes.length === 1 && transition === undefined) {
          raw.proposeConfChange({ ...changes[0]!, context: new Uint8Array() });
        } else {
          const t = transition === 'explicit' || transition === 'implicit' ? transition : 'auto';
          raw.proposeConfChange({ transition: t, changes, context: new Uint8Array() });
        }
        break;
      }
      case 'isolate':
        this.cluster().isolate(this.node(cmd));
        return 'ok';
      case 'partition':
        this.cluster().partition(ids(cmd.args[0]));
        return 'ok';
      case 'heal':
        this.cluster().heal();
        return 'ok';
      case 'compact':
        this.cluster().compact(this.node(cmd));
        return `snapshot at ${this.cluster().node(this.node(cmd)).storage.snapshot().metadata.index}`;
      case 'restart':
        this.cluster().restart(this.node(cmd));
        return 'ok';
      case 'stabilize':
        this.stabilize();
        return this.log.join('\n') || 'ok';
      case 'status': {
        const lines: string[] = [];
        const which =
          cmd.args.length > 0 ? cmd.args.map((a) => BigInt(a)) : [...this.cluster().nodes.keys()];
        for (const id of which) {
          const st = this.cluster().raw(id).status();
          const cs = st.config;
          let line = `${id}: ${st.softState.role} term=${st.hardState.term} lead=${st.softState.lead} commit=${st.hardState.commit} applied=${st.applied} voters=(${cs.voters.join(' ')})`;
          if (cs.votersOutgoing.length > 0) line += `&&(${cs.votersOutgoing.join(' ')})`;
          if (cs.learners.length > 0) line += ` learners=(${cs.learners.join(' ')})`;
          lines.push(line);
        }
        return lines.join('\n');
      }
      case 'applied': {
        const lines: string[] = [];
        for (const id of this.cluster().nodes.keys()) {
          lines.push(`${id}: [${this.cluster().appliedData(id).join(' ')}]`);
        }
        return lines.join('\n');
      }
      case 'read-states': {
        const n = this.cluster().node(this.node(cmd));
        const out = n.readStates.map((r) => `${new TextDecoder().decode(r.requestCtx)}@${r.index}`);
        n.readStates = [];
        return out.length > 0 ? out.join('\n') : 'none';
      }
      default:
        throw new Error(`unknown command ${cmd.name}`);
    }
    return 'ok';
  }
}

/**
 * Runs a script and returns it with every expected output replaced by the
 * actual one. Errors thrown by a command become its output (`error: ...`).
 */
export function runScript(text: string): string {
  const runner = new Runner();
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      i++;
      continue;
    }
    out.push(line);
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after "${line}"`);
    out.push('----');
    i++;
    // Skip the old expected output up to the next blank line.
    while (i < lines.length && lines[i]!.trim() !== '') i++;
    let result: string;
    try {
      result = runner.run(parse(line));
    } catch (e) {
      result = `error: ${e instanceof Error ? e.message : String(e)}`;
    }
    out.push(result);
  }
  return out.join('\n');
}
