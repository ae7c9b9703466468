// Human-readable renderings, used by the script tests and for debugging.
import type { Ready } from './raw-node';
import type { Entry, HardState, Message, NodeId, Snapshot } from './types';
import { EntryType, MessageType } from './types';

const MSG_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));

/** Formats a node ID (as a decimal). */
export function describeId(id: NodeId): string {
  return id.toString();
}

function describeData(d: Uint8Array): string {
  let printable = true;
  for (const b of d) if (b < 0x20 || b > 0x7e) printable = false;
  if (printable) return JSON.stringify(String.fromCharCode(...d));
  return `0x${[...d].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Formats one entry as `term/index TYPE data`. */
export function describeEntry(e: Entry): string {
  const kind =
    e.type === EntryType.Normal
      ? ''
      : e.type === EntryType.ConfChange
        ? ' ConfChange'
        : ' ConfChangeV2';
  const data =
    e.type === EntryType.Normal ? (e.data.length > 0 ? ` ${describeData(e.data)}` : '') : '';
  return `${e.term}/${e.index}${kind}${data}`;
}

/** Formats entries as `[1/1, 1/2 "x"]`. */
export function describeEntries(ents: readonly Entry[]): string {
  return `[${ents.map(describeEntry).join(', ')}]`;
}

/** Formats a hard state. */
export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${describeId(hs.vote)} Commit:${hs.commit}`;
}

/** Formats a snapshot's metadata. */
export function describeSnapshot(s: Snapshot): string {
  const cs = s.metadata.confState;
  const l = cs.learners.length > 0 ? ` learners=(${cs.learners.join(' ')})` : '';
  const o = cs.votersOutgoing.length > 0 ? ` outgoing=(${cs.votersOutgoing.join(' ')})` : '';
  return `Index:${s.metadata.index} Term:${s.metadata.term} voters=(${cs.voters.join(' ')})${o}${l}`;
}

/** Formats a message the way etcd's DescribeMessage does, roughly. */
export function describeMessage(m: Message): string {
  let s = `${describeId(m.from)}->${describeId(m.to)} ${MSG_NAMES.get(m.type) ?? String(m.type)} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0) s += ` Entries:${describeEntries(m.entries)}`;
  if (m.snapshot !== undefined) s += ` Snapshot: ${describeSnapshot(m.snapshot)}`;
  return s;
}

/** Formats a Ready, one item per line. */
export function describeReady(rd: Ready): string {
  const lines: string[] = [];
  if (rd.softState) lines.push(`Lead:${describeId(rd.softState.lead)} State:${rd.softState.role}`);
  if (rd.hardState) lines.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.readStates.length > 0) {
    lines.push(
      `ReadStates: ${rd.readStates.map((r) => `${r.index} ${describeData(r.requestCtx)}`).join(', ')}`,
    );
  }
  if (rd.entries.length > 0) lines.push(`Entries: ${describeEntries(rd.entries)}`);
  if (rd.snapshot) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`);
  if (rd.committedEntries.length > 0)
    lines.push(`CommittedEntries: ${describeEntries(rd.committedEntries)}`);
  if (rd.messages.length > 0) {
    lines.push('Messages:');
    for (const m of rd.messages) lines.push(describeMessage(m));
  }
  return lines.join('\n');
}
